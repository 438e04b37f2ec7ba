//! File-system figures as `df` reports them, from `statvfs`: used is size
//! minus *free* blocks, and the used percent is `used / (used + available)`,
//! so the blocks reserved for root count neither as used nor as available
//! (psutil follows the same convention).
//!
//! sysinfo gives only the available count, and size − available counts the
//! reserved blocks as used: on a large ext4 volume that alone reads 5 % high,
//! and on a file system whose quota hides most of the device far more.

/// One mounted file system's space and inodes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FsUsage {
    pub size_bytes: u64,
    pub free_bytes: u64,
    pub available_bytes: u64,
    /// `None` where the file system has no fixed inode table (btrfs, vfat
    /// and others report zero inodes): not available here, not 0 %.
    pub inodes_used_percent: Option<f64>,
}

impl FsUsage {
    /// Bytes in use: size − free.
    pub fn used_bytes(&self) -> u64 {
        self.size_bytes.saturating_sub(self.free_bytes)
    }

    /// `df`'s Use% before its rounding up: used / (used + available).
    pub fn used_percent(&self) -> f64 {
        let used = self.used_bytes() as f64;
        let denominator = used + self.available_bytes as f64;
        if denominator > 0.0 {
            used / denominator * 100.0
        } else {
            0.0
        }
    }

    /// Builds the figures from the raw `statvfs` counts.
    fn from_counts(
        fragment: u64,
        blocks: u64,
        free: u64,
        available: u64,
        files: u64,
        files_free: u64,
    ) -> Self {
        let inodes_used_percent =
            (files > 0).then(|| files.saturating_sub(files_free) as f64 / files as f64 * 100.0);
        Self {
            size_bytes: blocks.saturating_mul(fragment),
            free_bytes: free.saturating_mul(fragment),
            available_bytes: available.min(free).saturating_mul(fragment),
            inodes_used_percent,
        }
    }
}

/// Reads one mount point; `None` when it cannot be read (unmounted since the
/// list was taken, or no permission).
#[cfg(unix)]
pub fn read(mount: &std::path::Path) -> Option<FsUsage> {
    let st = rustix::fs::statvfs(mount).ok()?;
    Some(FsUsage::from_counts(
        st.f_frsize,
        st.f_blocks,
        st.f_bfree,
        st.f_bavail,
        st.f_files,
        st.f_ffree,
    ))
}

#[cfg(not(unix))]
pub fn read(_mount: &std::path::Path) -> Option<FsUsage> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_blocks_count_neither_as_used_nor_as_available() {
        // 100 blocks, 60 free of which 10 are reserved for root.
        let u = FsUsage::from_counts(4096, 100, 60, 50, 1000, 250);
        assert_eq!(u.used_bytes(), 40 * 4096);
        assert!((u.used_percent() - 40.0 / 90.0 * 100.0).abs() < 1e-9);
        assert_eq!(u.inodes_used_percent, Some(75.0));
    }

    #[test]
    fn a_file_system_without_an_inode_table_has_no_inode_figure() {
        let u = FsUsage::from_counts(4096, 100, 60, 60, 0, 0);
        assert_eq!(u.inodes_used_percent, None);
    }
}
