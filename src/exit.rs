//! Exit statuses of the binaries, decided here so that `main` stays thin. Status 2: what
//! the user gave — a flag, the configuration, a file or an address they name — was
//! refused before the work started, and the message names the fix. Status 1: the work
//! started and then failed (a broker gone, I/O failing mid-run, a thread that died).
//! Flags that do not parse are refused by clap with status 2 too.

use std::io;
use std::process::ExitCode;

/// Exit status of a user error.
pub const USER_ERROR: u8 = 2;
/// Exit status of a failure at run time.
pub const FAILURE: u8 = 1;

/// An error a binary ends with: whether the user can fix it by changing what they gave.
pub trait Failure: std::error::Error {
    /// Refused before the work started; the message names the fix.
    fn is_user_error(&self) -> bool;

    /// [`USER_ERROR`] or [`FAILURE`].
    fn exit_code(&self) -> ExitCode {
        ExitCode::from(if self.is_user_error() {
            USER_ERROR
        } else {
            FAILURE
        })
    }
}

/// Whether an error opening or creating a path the user named is about the path
/// (missing, not allowed, a directory, read-only, not a valid name) rather than the
/// machine failing (a full disk, an I/O error).
pub fn path_refused(e: &io::Error) -> bool {
    use io::ErrorKind::*;
    matches!(
        e.kind(),
        NotFound
            | PermissionDenied
            | AlreadyExists
            | InvalidInput
            | IsADirectory
            | NotADirectory
            | ReadOnlyFilesystem
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_directory_is_the_users_a_full_disk_is_not() {
        let missing = std::fs::File::create("/nonexistent-lanewatch-dir/x").unwrap_err();
        assert!(path_refused(&missing), "{missing:?}");
        assert!(!path_refused(&io::Error::from(io::ErrorKind::StorageFull)));
        assert!(!path_refused(&io::Error::other("EIO")));
    }
}
