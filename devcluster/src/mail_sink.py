"""The SMTP sink of the dev cluster and of the tests: an aiosmtpd server that accepts every
message and stores it as a file, so alert mail can be read without a real mail server.

    python mail_sink.py --listen 127.0.0.1:PORT --dir DIR [--ready-file FILE]

Each message becomes DIR/<unix-ms>-<seq>.eml: the RFC 5322 bytes as received, after two headers
with the SMTP envelope (X-Envelope-From, X-Envelope-To; Bcc recipients show only there). It is
written under a hidden temporary name and then linked into place, so a reader never sees half a
file and a name is never reused. Port 0 picks a free port; once listening, the bound
HOST:PORT is printed and, with --ready-file, written (atomically) to FILE.

Exits on SIGTERM or SIGINT, and when its parent process dies (it polls its parent pid), so a
test or spider-up that is killed leaves no sink behind.

One copy lives in the repository (devcluster/src/mail_sink.py): spider-up embeds it, and
cluster-harness's SmtpSink embeds the same file for the tests.
"""

import argparse
import asyncio
import itertools
import os
import signal
import sys
import time

from aiosmtpd.smtp import SMTP

HOSTNAME = "mail-sink.localhost"
PARENT_POLL_SECONDS = 0.5


class Store:
    """aiosmtpd handler: every message accepted, each stored as one file."""

    def __init__(self, out_dir):
        self.out_dir = out_dir
        self.seq = itertools.count()

    def save(self, mail_from, rcpt_tos, raw):
        head = "X-Envelope-From: {}\r\nX-Envelope-To: {}\r\n".format(mail_from or "<>", ", ".join(rcpt_tos))
        data = head.encode("utf-8", "surrogateescape") + raw
        seq = next(self.seq)
        tmp = os.path.join(self.out_dir, ".incoming-{}-{}.tmp".format(os.getpid(), seq))
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        try:
            while True:
                name = "{}-{:06d}.eml".format(int(time.time() * 1000), seq)
                try:
                    # link, not rename: it never replaces a file (another sink process's, say).
                    os.link(tmp, os.path.join(self.out_dir, name))
                    return name
                except FileExistsError:
                    seq = next(self.seq)
        finally:
            os.unlink(tmp)

    async def handle_DATA(self, server, session, envelope):
        try:
            name = self.save(envelope.mail_from, envelope.rcpt_tos, envelope.original_content or b"")
        except OSError as e:
            print("mail-sink: cannot store a message: {}".format(e), file=sys.stderr, flush=True)
            return "451 Requested action aborted: cannot store the message"
        print("mail-sink: {} from {} to {}".format(name, envelope.mail_from, ", ".join(envelope.rcpt_tos)), flush=True)
        return "250 Message accepted for delivery"


def write_ready(path, addr):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(addr + "\n")
    os.replace(tmp, path)


async def serve(host, port, out_dir, ready_file):
    loop = asyncio.get_running_loop()
    parent = os.getppid()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    handler = Store(out_dir)
    server = await loop.create_server(
        lambda: SMTP(handler, hostname=HOSTNAME, enable_SMTPUTF8=True, loop=loop), host, port
    )
    bound = server.sockets[0].getsockname()
    addr = "{}:{}".format(bound[0], bound[1])
    print("mail-sink: listening on {}, storing messages in {}".format(addr, out_dir), flush=True)
    if ready_file:
        write_ready(ready_file, addr)
    why = "signal"
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), PARENT_POLL_SECONDS)
        except asyncio.TimeoutError:
            pass
        if os.getppid() != parent:
            why = "parent {} exited".format(parent)
            break
    print("mail-sink: stopping ({})".format(why), flush=True)
    server.close()
    try:
        # Open client connections may keep wait_closed from returning; do not hang on them.
        await asyncio.wait_for(server.wait_closed(), 1)
    except asyncio.TimeoutError:
        pass


def main(argv=None):
    p = argparse.ArgumentParser(description="SMTP sink: stores every received message as DIR/<unix-ms>-<seq>.eml")
    p.add_argument("--listen", required=True, metavar="HOST:PORT", help="address to listen on (port 0: any free port)")
    p.add_argument("--dir", required=True, help="directory the messages are stored in (created if missing)")
    p.add_argument("--ready-file", help="written with the bound HOST:PORT once the sink listens")
    args = p.parse_args(argv)
    host, sep, port = args.listen.rpartition(":")
    if not sep or not host or not port.isdigit():
        p.error("--listen must be HOST:PORT, got {!r}".format(args.listen))
    os.makedirs(args.dir, exist_ok=True)
    asyncio.run(serve(host, int(port), os.path.abspath(args.dir), args.ready_file))
    return 0


if __name__ == "__main__":
    sys.exit(main())
