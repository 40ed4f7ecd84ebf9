// Command importmem measures what task imports through the API cost the
// server in memory. It builds the blobmark command, serves it on embedded
// SQLite as its own process, and prints that process's peak RSS (VmHWM):
//
//   - idle, after start-up;
//   - after one import of about -mb MiB (POST /api/projects/{id}/import);
//   - on a fresh process, after -concurrent such imports posted at once,
//     each retried after the server's Retry-After when it answers 429.
//
// Run it with `go run ./bench/importmem [-mb 60] [-concurrent 4] [-shape annotated|small]`.
// -bin runs a binary built elsewhere instead (an older revision, to
// compare); -slots sets --max-concurrent-imports. It prints numbers and
// never fails on them.
//
// Like every program under bench/, it may import any blobmark package.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/blobmark/blobmark/bench/benchkit"
)

func main() {
	mb := flag.Int("mb", 60, "size of each import body, in MiB")
	concurrent := flag.Int("concurrent", 4, "imports posted at once in the second run")
	shape := flag.String("shape", "annotated", "tasks: annotated (data, meta, one annotation and one prediction, ~600 bytes) or small (bare data, ~45 bytes)")
	bin := flag.String("bin", "", "blobmark binary to measure; empty builds ./cmd/blobmark")
	slots := flag.String("slots", "", "--max-concurrent-imports for the server; empty leaves its default")
	flag.Parse()

	body, tasks := payload(*mb<<20, *shape)
	if *bin == "" {
		*bin = benchkit.BuildBlobmark()
	}
	fmt.Printf("blobmark import memory (SQLite, %s tasks, %.1f MiB per import: %d tasks)\n\n", *shape, float64(len(body))/(1<<20), tasks)
	fmt.Printf("| run | peak RSS (VmHWM) | idle RSS before | wall time | 429 answers |\n|---|---|---|---|---|\n")
	for _, n := range []int{1, *concurrent} {
		srv := start(*bin, *slots)
		project := srv.project()
		idle := benchkit.ProcessStatusKB(srv.pid, "VmHWM")
		t0 := time.Now()
		var wg sync.WaitGroup
		var mu sync.Mutex
		refused := 0
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := srv.importTasks(project, body, tasks)
				mu.Lock()
				refused += r
				mu.Unlock()
			}()
		}
		wg.Wait()
		wall := time.Since(t0)
		peak := benchkit.ProcessStatusKB(srv.pid, "VmHWM")
		srv.stop()
		fmt.Printf("| %d import(s) at once | %.0f MiB | %.0f MiB | %s | %d |\n", n, float64(peak)/1024, float64(idle)/1024,
			wall.Round(10*time.Millisecond), refused)
	}
}

// payload returns a JSON array of tasks of about size bytes, and its length.
func payload(size int, shape string) ([]byte, int) {
	var b bytes.Buffer
	b.Grow(size + 4096)
	b.WriteByte('[')
	n := 0
	for ; b.Len() < size; n++ {
		if n > 0 {
			b.WriteByte(',')
		}
		switch shape {
		case "small":
			fmt.Fprintf(&b, `{"image":"azure-blob://bench/img/%07d.jpg"}`, n)
		case "annotated":
			region := fmt.Sprintf(`{"from_name":"label","to_name":"image","type":"rectanglelabels","value":{"x":%d,"y":10,"width":20,"height":20,"rectanglelabels":["Cat"]}}`, n%80)
			fmt.Fprintf(&b, `{"data":{"image":"azure-blob://bench/img/%07d.jpg","text":"A photo taken in the field, number %d, with a cat in the lower left corner."},`+
				`"meta":{"batch":%d},"annotations":[{"result":[%s],"lead_time":2.5}],"predictions":[{"result":[%s],"score":0.87,"model_version":"v1"}]}`,
				n, n, n/1000, region, region)
		default:
			benchkit.Fatal("unknown -shape " + shape)
		}
	}
	b.WriteByte(']')
	return b.Bytes(), n
}

// server is one `blobmark serve` process on its own data directory.
type server struct {
	base, token string
	pid         int
	stop        func()
}

// start creates a user in a fresh data directory and serves it, waiting
// until the server is ready.
func start(bin, slots string) *server {
	dir, err := os.MkdirTemp("", "blobmark-bench-importmem")
	benchkit.Check(err)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	benchkit.Check(err)
	addr := l.Addr().String()
	l.Close()
	env := append(os.Environ(), "BLOBMARK_DATA_DIR="+dir, "BLOBMARK_ADDR="+addr, "BLOBMARK_LOG_LEVEL=warn")
	if slots != "" {
		env = append(env, "BLOBMARK_MAX_CONCURRENT_IMPORTS="+slots)
	}
	create := exec.Command(bin, "user", "create", "--email", "bench@example.com", "--password", "bench password 123")
	create.Env = env
	out, err := create.CombinedOutput()
	if err != nil {
		benchkit.Fatal("user create: " + string(out))
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	logf, err := os.Create(filepath.Join(dir, "log"))
	benchkit.Check(err)
	cmd := exec.Command(bin, "serve")
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logf, logf
	benchkit.Check(cmd.Start())
	var once sync.Once
	s := &server{base: "http://" + addr, token: lines[len(lines)-1], pid: cmd.Process.Pid,
		stop: func() { once.Do(func() { _ = cmd.Process.Kill(); _ = cmd.Wait(); logf.Close(); os.RemoveAll(dir) }) }}
	benchkit.AtExit(s.stop)
	for range 300 {
		if resp, err := http.Get(s.base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	log, _ := os.ReadFile(filepath.Join(dir, "log"))
	benchkit.Fatal("server not ready:\n" + string(log))
	return nil
}

func (s *server) project() int64 {
	var p struct{ ID int64 }
	status, data := s.post("/api/projects/", []byte(`{"title":"bench","label_config":"<View><Image name=\"image\" value=\"$image\"/><RectangleLabels name=\"label\" toName=\"image\"><Label value=\"Cat\"/></RectangleLabels></View>"}`), nil)
	if status != http.StatusCreated {
		benchkit.Fatal(fmt.Sprintf("create project: %d %s", status, data))
	}
	benchkit.Check(json.Unmarshal(data, &p))
	return p.ID
}

// importTasks posts body until it is accepted, waiting as Retry-After says
// when the server is busy, and returns how many times it was refused.
func (s *server) importTasks(project int64, body []byte, want int) int {
	refused := 0
	for {
		header := http.Header{}
		status, data := s.post(fmt.Sprintf("/api/projects/%d/import", project), body, header)
		if status == http.StatusTooManyRequests {
			refused++
			wait, err := strconv.Atoi(header.Get("Retry-After"))
			if err != nil {
				benchkit.Fatal(fmt.Sprintf("429 without a Retry-After in seconds: %q", header.Get("Retry-After")))
			}
			time.Sleep(time.Duration(wait) * time.Second)
			continue
		}
		var res struct {
			TaskCount int `json:"task_count"`
		}
		if status != http.StatusCreated || json.Unmarshal(data, &res) != nil || res.TaskCount != want {
			benchkit.Fatal(fmt.Sprintf("import: %d %.300s", status, data))
		}
		return refused
	}
}

// post sends body with the bench user's token and returns the answer;
// header, when not nil, receives the answer's headers.
func (s *server) post(path string, body []byte, header http.Header) (int, []byte) {
	req, err := http.NewRequest("POST", s.base+path, bytes.NewReader(body))
	benchkit.Check(err)
	req.Header.Set("Authorization", "Token "+s.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	benchkit.Check(err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	benchkit.Check(err)
	for k, v := range resp.Header {
		if header != nil {
			header[k] = v
		}
	}
	return resp.StatusCode, data
}
