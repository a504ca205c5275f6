//! JSONL files as a source for replay: a path, `-` for standard input, gzip when the
//! name ends in `.gz`. Lines are handed out one at a time from one reused buffer, so
//! reading allocates nothing per event.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;

/// Read buffer size: large enough that one `read` system call serves thousands of lines.
const BUF_BYTES: usize = 1 << 20;

/// Errors of the file source.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("cannot open {path}: {source} (check --input)")]
    Open { path: PathBuf, source: io::Error },
    #[error("cannot read {path}: {source} (is it a complete JSONL or .gz file?)")]
    Read { path: PathBuf, source: io::Error },
}

/// An opened input: its display name, its size in bytes when known (plain files only,
/// for the progress bar) and a buffered reader of its decompressed bytes.
pub struct Input {
    pub path: PathBuf,
    pub size: Option<u64>,
    reader: Box<dyn BufRead + Send>,
}

impl Input {
    /// Open `path` (`-` is standard input; `*.gz` is decompressed, multi-member too).
    pub fn open(path: &Path) -> Result<Input, FileError> {
        if path == Path::new("-") {
            return Ok(Input {
                path: path.to_path_buf(),
                size: None,
                reader: Box::new(BufReader::with_capacity(BUF_BYTES, io::stdin())),
            });
        }
        let open_err = |source| FileError::Open {
            path: path.to_path_buf(),
            source,
        };
        let file = File::open(path).map_err(open_err)?;
        let meta = file.metadata().map_err(open_err)?;
        if meta.is_dir() {
            return Err(open_err(io::Error::other("is a directory")));
        }
        let gz = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("gz"));
        let reader: Box<dyn BufRead + Send> = if gz {
            let inner = BufReader::with_capacity(BUF_BYTES, file);
            Box::new(BufReader::with_capacity(
                BUF_BYTES,
                MultiGzDecoder::new(inner),
            ))
        } else {
            Box::new(BufReader::with_capacity(BUF_BYTES, file))
        };
        Ok(Input {
            path: path.to_path_buf(),
            size: (!gz).then_some(meta.len()),
            reader,
        })
    }

    /// An input over any reader (tests, benchmarks).
    pub fn from_reader(name: &str, reader: impl Read + Send + 'static) -> Input {
        Input {
            path: PathBuf::from(name),
            size: None,
            reader: Box::new(BufReader::with_capacity(BUF_BYTES, reader)),
        }
    }

    /// Call `f` with every non-empty line (without its `\n` or `\r\n`) and the number
    /// of bytes consumed so far, until the end of the input or until `f` returns
    /// `false`. Returns the bytes read.
    pub fn for_each_line(
        &mut self,
        mut f: impl FnMut(&[u8], u64) -> bool,
    ) -> Result<u64, FileError> {
        let mut line = Vec::with_capacity(4096);
        let mut bytes = 0u64;
        loop {
            line.clear();
            let n = self
                .reader
                .read_until(b'\n', &mut line)
                .map_err(|source| FileError::Read {
                    path: self.path.clone(),
                    source,
                })?;
            if n == 0 {
                return Ok(bytes);
            }
            bytes += n as u64;
            let mut l = line.as_slice();
            if let [rest @ .., b'\n'] = l {
                l = rest;
            }
            if let [rest @ .., b'\r'] = l {
                l = rest;
            }
            if l.is_empty() {
                continue;
            }
            if !f(l, bytes) {
                return Ok(bytes);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn lines(mut input: Input) -> Vec<String> {
        let mut out = Vec::new();
        input
            .for_each_line(|l, _| {
                out.push(String::from_utf8(l.to_vec()).unwrap());
                true
            })
            .unwrap();
        out
    }

    #[test]
    fn splits_lines_and_skips_blank_ones() {
        let input = Input::from_reader("t", io::Cursor::new(b"a\r\n\nbb\nc".to_vec()));
        assert_eq!(lines(input), ["a", "bb", "c"]);
    }

    #[test]
    fn reads_gzip_by_extension() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("e.jsonl.gz");
        let mut enc =
            flate2::write::GzEncoder::new(File::create(&p).unwrap(), flate2::Compression::fast());
        enc.write_all(b"{\"x\":1}\n{\"x\":2}\n").unwrap();
        enc.finish().unwrap();
        assert_eq!(lines(Input::open(&p).unwrap()), ["{\"x\":1}", "{\"x\":2}"]);
    }

    #[test]
    fn missing_file_names_the_path_and_the_flag() {
        let e = Input::open(Path::new("/nonexistent/x.jsonl"))
            .err()
            .unwrap();
        let msg = e.to_string();
        assert!(
            msg.contains("/nonexistent/x.jsonl") && msg.contains("--input"),
            "{msg}"
        );
    }
}
