package benchkit

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/service"
	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/azureblob"
	"github.com/blobmark/blobmark/internal/azuretest"
	"github.com/blobmark/blobmark/seal"
	"github.com/blobmark/blobmark/sqlstore"
)

// Account and Key are Azurite's well-known development account; they open
// nothing but a local emulator.
const (
	Account = "devstoreaccount1"
	Key     = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

var (
	exitMu sync.Mutex
	atExit []func()
)

// AtExit registers f to run before Fatal exits, for processes a failed
// benchmark must not leave behind.
func AtExit(f func()) {
	exitMu.Lock()
	defer exitMu.Unlock()
	atExit = append(atExit, f)
}

// Fatal runs the AtExit functions and exits with the message.
func Fatal(v ...any) {
	exitMu.Lock()
	fs := slices.Clone(atExit)
	exitMu.Unlock()
	for _, f := range fs {
		f()
	}
	log.Fatal(v...)
}

// Check calls Fatal when err is not nil.
func Check(err error) {
	if err != nil {
		Fatal(err)
	}
}

// Azurite is a plain-HTTP, in-memory, silent Azurite on a free loopback
// port: the fastest configuration the emulator has, so that it is the
// benchmarks' physical limit and not their handicap.
type Azurite struct {
	// Endpoint is the account's blob service URL, ending in "/".
	Endpoint string
	stop     func()
}

// StartAzurite starts the repository's pinned Azurite blob service and
// waits until it answers; Stop (or Fatal) ends it.
func StartAzurite() *Azurite { return StartAzuriteService("blob") }

// StartAzuriteService starts one Azurite service ("blob" or "queue") the
// same way; Endpoint is then that service's account URL.
func StartAzuriteService(service string) *Azurite {
	bin, err := azuretest.FindAzurite(service)
	Check(err)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	Check(err)
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	dir, err := os.MkdirTemp("", "azurite-bench")
	Check(err)
	cmd := exec.Command(bin, "--"+service+"Host", "127.0.0.1", "--"+service+"Port", strconv.Itoa(port), "--inMemoryPersistence",
		"--skipApiVersionCheck", "--disableTelemetry", "--silent")
	cmd.Dir = dir
	Check(cmd.Start())
	var once sync.Once
	a := &Azurite{
		Endpoint: fmt.Sprintf("http://127.0.0.1:%d/%s/", port, Account),
		stop:     func() { once.Do(func() { _ = cmd.Process.Kill(); _ = cmd.Wait(); os.RemoveAll(dir) }) },
	}
	AtExit(a.stop)
	for range 300 {
		if resp, err := http.Get(a.Endpoint + "?comp=list"); err == nil {
			resp.Body.Close()
			return a
		}
		time.Sleep(100 * time.Millisecond)
	}
	Fatal("azurite " + service + " did not start")
	return nil
}

// Stop ends Azurite.
func (a *Azurite) Stop() { a.stop() }

// Config is an account-key connection to this Azurite.
func (a *Azurite) Config() azureblob.Config {
	return azureblob.Config{AuthType: azureblob.AuthAccountKey, AccountName: Account, AccountKey: Key, Endpoint: a.Endpoint}
}

// CreateContainer creates a container with the SDK directly: the connector
// never creates containers.
func (a *Azurite) CreateContainer(ctx context.Context, name string) {
	key, err := service.NewSharedKeyCredential(Account, Key)
	Check(err)
	svc, err := service.NewClientWithSharedKeyCredential(a.Endpoint, key, nil)
	Check(err)
	_, err = svc.CreateContainer(ctx, name, nil)
	Check(err)
}

// Percentile returns the p-th percentile (0–100, nearest rank) of d, or 0
// when d is empty (a part of a benchmark shrunk to nothing).
func Percentile(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	return s[max(0, min(len(s)-1, i-1))]
}

// Round shows a duration with a precision that fits its size.
func Round(d time.Duration) string {
	if d < 10*time.Millisecond && d > -10*time.Millisecond {
		return d.Round(10 * time.Microsecond).String()
	}
	return d.Round(time.Millisecond).String()
}

// ResetPeakRSS returns freed memory to the system and resets the process's
// peak RSS (VmHWM; Linux only, an error elsewhere), so that the next
// ProcStatusKB("VmHWM") is the peak of what runs after it.
func ResetPeakRSS() error {
	runtime.GC()
	debug.FreeOSMemory()
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

// ProcStatusKB returns a field of /proc/self/status in KiB (VmRSS, VmHWM…).
func ProcStatusKB(field string) int64 { return statusKB("/proc/self/status", field) }

// ProcessStatusKB returns a field of another process's /proc/PID/status in
// KiB, for benchmarks that measure a server they started.
func ProcessStatusKB(pid int, field string) int64 {
	return statusKB("/proc/"+strconv.Itoa(pid)+"/status", field)
}

func statusKB(path, field string) int64 {
	data, err := os.ReadFile(path)
	Check(err)
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == field+":" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb
		}
	}
	return 0
}

// CPUTimes is a reading of the machine's CPU time, every core's together
// (Linux only; zero elsewhere), for what share of the cores a measure kept
// busy: BusySince.
type CPUTimes struct{ busy, total int64 }

// ReadCPU reads the machine's CPU time so far from /proc/stat.
func ReadCPU() CPUTimes {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return CPUTimes{}
	}
	line, _, _ := strings.Cut(string(data), "\n")
	var t CPUTimes
	for i, f := range strings.Fields(line)[1:] { // user nice system idle iowait irq softirq steal…
		n, _ := strconv.ParseInt(f, 10, 64)
		if i < 8 {
			t.total += n
		}
		if i != 3 && i != 4 && i < 8 { // idle and iowait leave a core free
			t.busy += n
		}
	}
	return t
}

// BusySince returns the share of every core's time that was busy since
// start, as "cores 87% busy", or "" where the machine does not tell: a
// measure at about 100% had the cores for its limit, whatever its ratio to
// another limit says.
func BusySince(start CPUTimes) string {
	now := ReadCPU()
	if now.total <= start.total {
		return ""
	}
	return fmt.Sprintf("cores %.0f%% busy", 100*float64(now.busy-start.busy)/float64(now.total-start.total))
}

// BuildBlobmark builds the blobmark command of the working directory's
// module into a temporary directory, removed at exit, and returns its path.
func BuildBlobmark() string {
	dir, err := os.MkdirTemp("", "blobmark-bench-bin")
	Check(err)
	AtExit(func() { os.RemoveAll(dir) })
	bin := filepath.Join(dir, "blobmark")
	out, err := exec.Command("go", "build", "-o", bin, "./cmd/blobmark").CombinedOutput()
	if err != nil {
		Fatal("build blobmark: " + string(out))
	}
	return bin
}

// ListAndDownload lists c and downloads every blob, concurrency at a time,
// reading each to its end, and returns how many it read and the time: the
// floor of a Tasks-mode sync that keeps as many downloads in flight.
func ListAndDownload(ctx context.Context, c *azureblob.Container, concurrency int) (int, time.Duration) {
	start := time.Now()
	keys := make(chan string, concurrency)
	var wg sync.WaitGroup
	var count atomic.Int64
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range keys {
				d, err := c.Download(ctx, k, 0, 0)
				Check(err)
				_, err = io.Copy(io.Discard, d.Body)
				d.Body.Close()
				Check(err)
				count.Add(1)
			}
		}()
	}
	Check(c.List(ctx, azureblob.ListOptions{Recursive: true, PageSize: 5000}, func(p []azureblob.BlobItem) error {
		for _, b := range p {
			keys <- b.Name
		}
		return nil
	}))
	close(keys)
	wg.Wait()
	return int(count.Load()), time.Since(start)
}

// Upload puts n blobs into c with the given number of concurrent writers;
// blob(i) names and fills the i-th.
func Upload(ctx context.Context, c *azureblob.Container, n, writers int, blob func(i int) (string, []byte)) {
	idx := make(chan int, writers)
	var wg sync.WaitGroup
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range idx {
				name, data := blob(i)
				_, err := c.UploadBytes(ctx, name, data, "application/octet-stream")
				Check(err)
			}
		}()
	}
	for i := range n {
		idx <- i
	}
	close(idx)
	wg.Wait()
}

// Store is a throw-away SQLite blobmark store with one signed-in user, for
// benchmarks that drive the store or the API in-process.
type Store struct {
	DB *sqlstore.DB
	// User and Token are the bench user and its API token; Context carries
	// the user, as an authenticated request's context does.
	User    *blobmark.User
	Token   string
	Context context.Context
	dir     string
}

// SecretBox returns a box under a random server key, for a store that
// holds secrets.
func SecretBox() *seal.Box {
	key := make([]byte, seal.KeySize)
	_, _ = rand.Read(key)
	box, err := seal.New(key)
	Check(err)
	return box
}

// OpenStore opens a fresh SQLite store in a temporary directory, with a
// random secret key, and creates the bench user.
func OpenStore(ctx context.Context) *Store { return OpenStoreURL(ctx, "") }

// OpenStoreURL is OpenStore on the (empty) PostgreSQL database at
// databaseURL, or on SQLite when it is "".
func OpenStoreURL(ctx context.Context, databaseURL string) *Store {
	dir, err := os.MkdirTemp("", "blobmark-bench")
	Check(err)
	AtExit(func() { os.RemoveAll(dir) })
	db, err := sqlstore.Open(ctx, sqlstore.Config{DataDir: dir, DatabaseURL: databaseURL, Secrets: SecretBox(), Logger: slog.New(slog.DiscardHandler)})
	Check(err)
	user, token, err := db.CreateUser(ctx, "bench@example.com", "bench password 123")
	Check(err)
	return &Store{DB: db, User: user, Token: token, Context: blobmark.NewContextWithUser(ctx, user), dir: dir}
}

// Close closes the store and removes its directory.
func (s *Store) Close() {
	s.DB.Close()
	os.RemoveAll(s.dir)
}

// Settle readies a PostgreSQL database after a benchmark's bulk load: it
// vacuums and analyzes, as autovacuum otherwise would in the middle of the
// measurement (and index-only scans need the visibility map it sets). On
// SQLite there is nothing to do.
func Settle(ctx context.Context, db *sqlstore.DB) {
	if db.Dialect() == sqlstore.Postgres {
		_, err := db.SQL().ExecContext(ctx, "VACUUM ANALYZE")
		Check(err)
	}
}

// Checkpoint has PostgreSQL write its dirty pages out before a timed run,
// so that no checkpoint the last run's writes made due lands in this one.
// It needs a superuser or pg_checkpoint; without, the run goes on as it
// is. On SQLite there is nothing to do.
func Checkpoint(ctx context.Context, db *sqlstore.DB) {
	if db.Dialect() == sqlstore.Postgres {
		_, _ = db.SQL().ExecContext(ctx, "CHECKPOINT")
	}
}

// DatabaseName names db's database for a benchmark's header; on PostgreSQL
// with its shared_buffers, which decides whether a million tasks' indexes
// are read from memory or from the operating system's cache.
func DatabaseName(ctx context.Context, db *sqlstore.DB) string {
	if db.Dialect() != sqlstore.Postgres {
		return "SQLite"
	}
	var buffers string
	Check(db.SQL().QueryRowContext(ctx, "SHOW shared_buffers").Scan(&buffers))
	return "PostgreSQL, shared_buffers " + buffers
}

// Call sends one API request as token's user, with body as JSON, and
// returns the answer and the time until it was read; an answer other than
// want ends the benchmark.
func Call(client *http.Client, token, method, url, body string, want int) ([]byte, time.Duration) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	Check(err)
	req.Header.Set("Authorization", "Token "+token)
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	resp, err := client.Do(req)
	Check(err)
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	Check(err)
	took := time.Since(start)
	if resp.StatusCode != want {
		Fatal(fmt.Sprintf("%s %s: %d %s", method, url, resp.StatusCode, raw))
	}
	return raw, took
}
