//! The snapshot format: a self-checking byte stream of every state-machine row and blob.
//!
//! Layout (format 1): magic `SPDRSNAP`, u32 BE format version, u32 BE length + JSON of the
//! snapshot meta (last log id, membership), then records `{u8 family, u32 BE key length, key,
//! u32 BE value length, value}` ended by a family byte 0, then the sha256 of everything before.
//! Decoding checks magic, version and checksum before anything is installed, so a damaged or
//! foreign snapshot is refused whole and the installed state stays as it was.

use sha2::Digest;
use sha2::Sha256;

use crate::error::Error;
use crate::typ::SnapshotMeta;

const MAGIC: &[u8; 8] = b"SPDRSNAP";
/// The snapshot format this build writes and reads.
pub const SNAPSHOT_FORMAT: u32 = 1;

/// Which column family a snapshot record belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// A state-machine row (`sm_data`).
    Data = 1,
    /// An egg blob (`sm_blobs`).
    Blob = 2,
}

/// A decoded snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct SnapshotContents {
    pub meta: SnapshotMeta,
    pub rows: Vec<(Vec<u8>, Vec<u8>)>,
    pub blobs: Vec<(Vec<u8>, Vec<u8>)>,
}

/// Writes a snapshot record by record.
pub struct SnapshotWriter {
    buf: Vec<u8>,
}

impl SnapshotWriter {
    pub fn new(meta: &SnapshotMeta) -> Result<Self, Error> {
        let meta = serde_json::to_vec(meta).map_err(|e| Error::Snapshot(format!("meta: {e}")))?;
        let mut buf = Vec::with_capacity(1024 + meta.len());
        buf.extend_from_slice(MAGIC);
        buf.extend_from_slice(&SNAPSHOT_FORMAT.to_be_bytes());
        put_len_prefixed(&mut buf, &meta)?;
        Ok(Self { buf })
    }

    pub fn record(&mut self, family: Family, key: &[u8], value: &[u8]) -> Result<(), Error> {
        self.buf.push(family as u8);
        put_len_prefixed(&mut self.buf, key)?;
        put_len_prefixed(&mut self.buf, value)
    }

    pub fn finish(mut self) -> Vec<u8> {
        self.buf.push(0);
        let sum = Sha256::digest(&self.buf);
        self.buf.extend_from_slice(&sum);
        self.buf
    }
}

fn put_len_prefixed(buf: &mut Vec<u8>, bytes: &[u8]) -> Result<(), Error> {
    let len = u32::try_from(bytes.len()).map_err(|_| Error::Snapshot(format!("record of {} bytes", bytes.len())))?;
    buf.extend_from_slice(&len.to_be_bytes());
    buf.extend_from_slice(bytes);
    Ok(())
}

/// A bounds-checked reader over the snapshot bytes.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Error> {
        let end = self.pos.checked_add(n).filter(|e| *e <= self.bytes.len());
        let Some(end) = end else {
            return Err(Error::Snapshot(format!("truncated at byte {}", self.pos)));
        };
        let out = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn u32(&mut self) -> Result<u32, Error> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn len_prefixed(&mut self) -> Result<&'a [u8], Error> {
        let n = self.u32()? as usize;
        self.take(n)
    }
}

/// Decodes and verifies a snapshot.
pub fn decode(bytes: &[u8]) -> Result<SnapshotContents, Error> {
    if bytes.len() < MAGIC.len() + 4 + 32 || &bytes[..MAGIC.len()] != MAGIC {
        return Err(Error::Snapshot("not a spider-platform snapshot (bad magic)".into()));
    }
    let (body, sum) = bytes.split_at(bytes.len() - 32);
    let mut c = Cursor { bytes: body, pos: MAGIC.len() };
    let format = c.u32()?;
    if format != SNAPSHOT_FORMAT {
        return Err(Error::Snapshot(format!("snapshot format {format}; this build reads format {SNAPSHOT_FORMAT}")));
    }
    if Sha256::digest(body).as_slice() != sum {
        return Err(Error::Snapshot("checksum mismatch: the snapshot is damaged".into()));
    }
    let meta: SnapshotMeta =
        serde_json::from_slice(c.len_prefixed()?).map_err(|e| Error::Snapshot(format!("meta: {e}")))?;
    let mut rows = Vec::new();
    let mut blobs = Vec::new();
    loop {
        let family = c.take(1)?[0];
        if family == 0 {
            break;
        }
        let key = c.len_prefixed()?.to_vec();
        let value = c.len_prefixed()?.to_vec();
        match family {
            1 => rows.push((key, value)),
            2 => blobs.push((key, value)),
            other => return Err(Error::Snapshot(format!("unknown record family {other}"))),
        }
    }
    if c.pos != body.len() {
        return Err(Error::Snapshot(format!("{} trailing bytes", body.len() - c.pos)));
    }
    Ok(SnapshotContents { meta, rows, blobs })
}
