//! Where the real binaries `spider-up` runs are: an explicit path (flag or environment), else
//! the file of that name next to `spider-up` itself (cargo puts every binary of the workspace
//! in one target directory).

use std::path::Path;
use std::path::PathBuf;

use anyhow::Context;

/// One executable `spider-up` starts.
#[derive(Debug, Clone, Copy)]
pub struct Bin {
    /// The file name, e.g. `spider-master`.
    pub name: &'static str,
    /// The cargo package that builds it, for the error message.
    pub package: &'static str,
    /// The flag that overrides its path, for the error message.
    pub flag: &'static str,
}

pub const MASTER: Bin = Bin { name: "spider-master", package: "master", flag: "--master-bin" };
pub const SLAVE: Bin = Bin { name: "spider-slave", package: "slave", flag: "--slave-bin" };

/// `explicit` if given, else `bin` next to `exe`; an error that says how to get it when the
/// file is not there.
pub fn locate(bin: Bin, explicit: Option<&Path>, exe: &Path) -> anyhow::Result<PathBuf> {
    let path = match explicit {
        Some(p) => p.to_path_buf(),
        None => exe.parent().context("this executable has no directory")?.join(bin.name),
    };
    if !path.is_file() {
        anyhow::bail!(
            "{} not found at {}: build it (`cargo build --release -p {}`) or pass {}",
            bin.name,
            path.display(),
            bin.package,
            bin.flag
        );
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_binary_is_found_next_to_the_executable_or_where_it_is_named() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let exe = tmp.path().join("spider-up");
        let next_to = tmp.path().join("spider-master");
        std::fs::write(&next_to, "").expect("write");
        assert_eq!(locate(MASTER, None, &exe).expect("found"), next_to);
        let e = locate(SLAVE, None, &exe).expect_err("missing");
        assert!(e.to_string().contains("-p slave") && e.to_string().contains("--slave-bin"), "{e}");
        let elsewhere = tmp.path().join("other-slave");
        std::fs::write(&elsewhere, "").expect("write");
        assert_eq!(locate(SLAVE, Some(&elsewhere), &exe).expect("explicit"), elsewhere);
        assert!(locate(MASTER, Some(&tmp.path().join("nope")), &exe).is_err());
    }
}
