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

impl crate::exit::Failure for FileError {
    /// An input that cannot be opened, or is not what it claims to be (not gzip, a
    /// gzip file cut short), is the user's to fix; the machine failing to read it (an
    /// I/O error) is a failure at run time.
    fn is_user_error(&self) -> bool {
        match self {
            FileError::Open { .. } => true,
            FileError::Read { source, .. } => matches!(
                source.kind(),
                io::ErrorKind::InvalidData
                    | io::ErrorKind::InvalidInput
                    | io::ErrorKind::UnexpectedEof
            ),
        }
    }
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
    /// `false`. Returns the bytes read. A line longer than `max_line` bytes is handed
    /// out cut to `max_line + 1` bytes (enough for the event parser to reject it as
    /// too large) and the rest of it is skipped as it is read: memory stays bounded
    /// whatever the input, a gzip bomb of one endless line included.
    pub fn for_each_line(
        &mut self,
        max_line: usize,
        mut f: impl FnMut(&[u8], u64) -> bool,
    ) -> Result<u64, FileError> {
        let cap = max_line.saturating_add(1);
        let mut line = Vec::with_capacity(4096.min(cap));
        let mut bytes = 0u64;
        loop {
            let buf = self.reader.fill_buf().map_err(|source| FileError::Read {
                path: self.path.clone(),
                source,
            })?;
            if buf.is_empty() {
                if !line.is_empty() {
                    emit(&line, bytes, &mut f);
                }
                return Ok(bytes);
            }
            // Whole lines inside the buffer are handed out where they are (no copy);
            // only a line cut by the buffer's end is gathered in `line`.
            let mut used = 0;
            let mut stop = false;
            if line.is_empty() {
                while let Some(i) = memchr::memchr(b'\n', &buf[used..]) {
                    let whole = &buf[used..used + i + 1];
                    used += whole.len();
                    bytes += whole.len() as u64;
                    if !emit(&whole[..whole.len().min(cap)], bytes, &mut f) {
                        stop = true;
                        break;
                    }
                }
            }
            let rest = &buf[used..];
            let (take, end) = match memchr::memchr(b'\n', rest) {
                _ if stop => (0, false),
                Some(i) => (i + 1, true),
                None => (rest.len(), false),
            };
            let room = cap.saturating_sub(line.len());
            line.extend_from_slice(&rest[..take.min(room)]);
            self.reader.consume(used + take);
            if stop {
                return Ok(bytes);
            }
            bytes += take as u64;
            if end {
                let go_on = emit(&line, bytes, &mut f);
                line.clear();
                if !go_on {
                    return Ok(bytes);
                }
            }
        }
    }
}

/// Hand `line` to `f` without its line end; blank lines are skipped (`true`).
fn emit(line: &[u8], bytes: u64, f: &mut impl FnMut(&[u8], u64) -> bool) -> bool {
    let mut l = line;
    if let [rest @ .., b'\n'] = l {
        l = rest;
    }
    if let [rest @ .., b'\r'] = l {
        l = rest;
    }
    l.is_empty() || f(l, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn lines(mut input: Input) -> Vec<String> {
        let mut out = Vec::new();
        input
            .for_each_line(1 << 16, |l, _| {
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

    /// One line of 64 MiB (of a gzip bomb's kind) is handed out cut to the limit
    /// plus one byte, the lines around it whole (issue #14).
    #[test]
    fn an_endless_line_is_cut_at_the_limit_and_the_next_lines_are_whole() {
        let mut data = b"first\n".to_vec();
        data.extend(std::iter::repeat_n(b'x', 64 << 20));
        data.extend_from_slice(b"\nlast\n");
        let input = Input::from_reader("t", io::Cursor::new(data));
        let mut got = Vec::new();
        let mut input = input;
        input
            .for_each_line(1000, |l, _| {
                got.push(l.to_vec());
                true
            })
            .unwrap();
        assert_eq!(got.len(), 3);
        assert_eq!(got[0], b"first");
        assert_eq!(got[1].len(), 1001);
        assert_eq!(got[2], b"last");
    }

    /// A reader handing out `chunk` bytes per read, so lines cross buffer ends.
    struct Chunked(io::Cursor<Vec<u8>>, usize);

    impl Read for Chunked {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(self.1);
            self.0.read(&mut buf[..n])
        }
    }

    #[test]
    fn lines_in_the_buffer_and_across_its_end_are_cut_and_counted_alike() {
        let lens = [0usize, 1, 5, 9, 10, 11, 30, 3, 64, 2];
        let text: Vec<u8> = lens
            .iter()
            .enumerate()
            .flat_map(|(i, &n)| {
                let mut l = vec![b'a' + i as u8; n];
                l.extend_from_slice(if i % 3 == 0 { b"\r\n" } else { b"\n" });
                l
            })
            .collect();
        // What every line must give: cut to max_line + 1 bytes, blank ones skipped,
        // with the bytes read after it.
        let max_line = 9;
        let mut want = Vec::new();
        let mut at = 0u64;
        for (i, &n) in lens.iter().enumerate() {
            at += (n + if i % 3 == 0 { 2 } else { 1 }) as u64;
            if n > 0 {
                let kept = n.min(max_line + 1);
                want.push((vec![b'a' + i as u8; kept], at));
            }
        }
        for chunk in [1, 3, 7, 16, 1 << 20] {
            let mut input = Input::from_reader("t", Chunked(io::Cursor::new(text.clone()), chunk));
            let mut got = Vec::new();
            let total = input
                .for_each_line(max_line, |l, at| {
                    got.push((l.to_vec(), at));
                    true
                })
                .unwrap();
            // A line cut at max_line + 1 keeps its \r when the cut falls after it.
            let got: Vec<_> = got
                .into_iter()
                .map(|(l, at)| {
                    (
                        l.into_iter().filter(|&b| b != b'\r').collect::<Vec<_>>(),
                        at,
                    )
                })
                .collect();
            assert_eq!(got, want, "chunks of {chunk}");
            assert_eq!(total, text.len() as u64, "chunks of {chunk}");
            // Stopping after the third line reads no further than it.
            let mut input = Input::from_reader("t", Chunked(io::Cursor::new(text.clone()), chunk));
            let mut n = 0;
            let read = input
                .for_each_line(max_line, |_, _| {
                    n += 1;
                    n < 3
                })
                .unwrap();
            assert_eq!((n, read), (3, want[2].1), "chunks of {chunk}");
        }
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
