//go:build unix

package sqlstore

import (
	"os"
	"syscall"
)

// lockJobs tries, without waiting, to take an exclusive lock on a file
// beside the SQLite database, held while this process works its jobs, and
// reports whether it got it. The kernel releases the lock when its process
// ends, however it ends, so holding it proves that no other live process
// works this database's jobs: a job still marked running was left by a
// process that died.
func (db *Jobs) lockJobs() (release func(), ok bool) {
	f, err := os.OpenFile(db.path+".jobs-lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		db.logger.Warn("cannot open the job lock file; jobs a dead process left running wait for the stuck-job rescue", "err", err)
		return nil, false
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, false
	}
	return func() { f.Close() }, true
}
