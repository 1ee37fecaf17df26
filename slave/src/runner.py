# spider-slave runner: activates a Scrapy egg and runs `scrapy <command>` in this process.
# Shipped inside the spider-slave binary and passed with `python -c`. It uses no pkg_resources:
# the egg (a zip) goes on sys.path (zipimport) and its settings module is read from
# EGG-INFO/entry_points.txt with configparser, so it works with any setuptools.
# Environment: SPIDER_SLAVE_EGG (path of the egg, optional for [settings] projects),
# SCRAPY_PROJECT, SCRAPYD_EGG_VERSION (informational), SCRAPY_SETTINGS_MODULE (may be preset).
import atexit
import configparser
import os
import shutil
import sys
import tempfile
import zipfile


def _remove(path):
    try:
        os.remove(path)
    except OSError:
        pass


def _activate(egg):
    # Work on a private copy: the stored egg may be replaced or deleted while the crawl runs.
    fd, copy = tempfile.mkstemp(prefix="spider-slave-", suffix=".egg")
    os.close(fd)
    shutil.copyfile(egg, copy)
    atexit.register(_remove, copy)
    with zipfile.ZipFile(copy) as archive:
        try:
            text = archive.read("EGG-INFO/entry_points.txt").decode("utf-8")
        except KeyError:
            sys.stderr.write("BadEggError: egg has no EGG-INFO/entry_points.txt\n")
            sys.exit(2)
    parser = configparser.ConfigParser()
    parser.read_string(text)
    try:
        target = parser.get("scrapy", "settings")
    except (configparser.NoSectionError, configparser.NoOptionError):
        sys.stderr.write("BadEggError: egg has no 'settings' entry point in group [scrapy]\n")
        sys.exit(2)
    sys.path.insert(0, copy)
    os.environ.setdefault("SCRAPY_SETTINGS_MODULE", target.split(":")[0].strip())


def main():
    egg = os.environ.get("SPIDER_SLAVE_EGG")
    if egg:
        _activate(egg)
    from scrapy.cmdline import execute

    execute()


main()
