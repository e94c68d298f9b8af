package mmcache

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// fallocate makes room for a file's bytes; tests make it fail as a full tmpfs does.
var fallocate = unix.Fallocate

// processUID is the user a cache file must belong to: this process's effective user. Tests
// change it to see a file as another user's.
var processUID = os.Geteuid

// cacheFile is the file at Config.Path behind a cache's mapping (persist.go), open and locked
// for as long as the mapping lives.
type cacheFile struct {
	fd      int
	created bool // New created it: it holds nothing to reattach
}

// openCacheFile opens the file at path for a mapping of size bytes, creating it if there is
// none, and takes an exclusive advisory lock on it. It refuses what another local user could
// have planted: a symlink (O_NOFOLLOW), anything but a regular file, a file owned by another
// user, or one that group or others may write. The checks are made on the open descriptor, so
// the path cannot be swapped between check and use. A file of another size is returned
// unmapped, for the caller to report (or replace).
func openCacheFile(path string, size int) (*cacheFile, error) {
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	created := err == nil
	if errors.Is(err, unix.EEXIST) {
		fd, err = unix.Open(path, unix.O_RDWR|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	}
	if err != nil {
		if errors.Is(err, unix.ELOOP) {
			return nil, fmt.Errorf("mmcache: %s is a symbolic link; the cache file must be a regular file: %w", path, err)
		}
		return nil, fmt.Errorf("mmcache: opening cache file %s: %w", path, err)
	}
	f := &cacheFile{fd: fd, created: created}
	fail := func(err error) (*cacheFile, error) {
		_ = unix.Close(fd)
		if created {
			_ = os.Remove(path)
		}
		return nil, err
	}
	if err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		if errors.Is(err, unix.EWOULDBLOCK) {
			return fail(fmt.Errorf("%w: %s", ErrFileLocked, path))
		}
		return fail(fmt.Errorf("mmcache: locking cache file %s: %w", path, err))
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fail(fmt.Errorf("mmcache: cache file %s: %w", path, err))
	}
	switch {
	case st.Mode&unix.S_IFMT != unix.S_IFREG:
		return fail(fmt.Errorf("%w: %s is not a regular file", ErrUnsafeFile, path))
	case int(st.Uid) != processUID():
		return fail(fmt.Errorf("%w: %s is owned by user %d, not by this process's user %d", ErrUnsafeFile, path, st.Uid, processUID()))
	case st.Mode&0o022 != 0:
		return fail(fmt.Errorf("%w: %s has mode %#o: group or others may write it", ErrUnsafeFile, path, st.Mode&0o777))
	case st.Mode&0o200 == 0:
		// Only root gets this far: for any other user the O_RDWR open failed with EACCES,
		// which wraps fs.ErrPermission as this does.
		return fail(fmt.Errorf("mmcache: cache file %s has mode %#o: its owner may not write it: %w", path, st.Mode&0o777, fs.ErrPermission))
	}
	if created {
		// Room for the whole mapping up front, so that a full tmpfs fails here and not with
		// a SIGBUS on some later write.
		if err := fallocate(fd, 0, 0, int64(size)); err != nil {
			return fail(fmt.Errorf("mmcache: making room for %d bytes in %s: %w", size, path, err))
		}
	} else if st.Size != int64(size) {
		f.created = false
		return f, errWrongSize{got: st.Size}
	}
	return f, nil
}

// errWrongSize reports an existing cache file whose size is not the mapping's.
type errWrongSize struct{ got int64 }

func (e errWrongSize) Error() string { return fmt.Sprintf("file of %d bytes", e.got) }

// recreate empties the file and makes it size bytes again, for a cache that starts afresh.
func (f *cacheFile) recreate(size int) error {
	if err := unix.Ftruncate(f.fd, 0); err != nil {
		return err
	}
	return fallocate(f.fd, 0, 0, int64(size))
}

// mapFile maps the whole file, shared: what the cache writes is the file's contents.
func (f *cacheFile) mapFile(size int) ([]byte, error) {
	b, err := unix.Mmap(f.fd, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err == nil {
		liveMappings.Add(1)
	}
	return b, err
}

// close releases the lock and the descriptor.
func (f *cacheFile) close() error { return unix.Close(f.fd) }

// releaseShared gives b's pages back in a shared file mapping: MADV_REMOVE punches them out of
// the file (tmpfs frees them), and they read as zeros after.
func releaseShared(b []byte) (zeroed bool, err error) {
	return true, unix.Madvise(b, unix.MADV_REMOVE)
}

const cacheFilesSupported = true

// prefault maps b's pages in one call (MADV_POPULATE_READ), much faster than a fault for each
// page on first touch: a reattached shard is read whole when it is verified, and written soon
// after. A kernel without it (before 5.14) takes the faults one by one, as it would anyway.
func prefault(b []byte) {
	if s, e := pageTrim(b); e > s {
		_ = unix.Madvise(b[s:e], unix.MADV_POPULATE_READ)
	}
}
