//go:build !unix

package sqlstore

// lockJobs never claims the jobs where flock does not exist: nothing then
// proves that a job marked running was left by a dead process, so such jobs
// wait for the stuck-job rescue, as on PostgreSQL.
func (db *Jobs) lockJobs() (release func(), ok bool) { return nil, false }
