package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/server"
)

// TestLabelStreamAcrossServers runs two servers on one PostgreSQL
// database, as two replicas behind a load balancer, and has annotators
// draw tasks from one project through both, each request going to either.
// The locks live in the database, so no task is in more hands than it
// needs, and every task ends with exactly overlap annotations by different
// people.
func TestLabelStreamAcrossServers(t *testing.T) {
	// One data directory: the replicas share the server key, as they must.
	cfg := server.Config{DatabaseURL: postgresSchemaURL(t), DataDir: t.TempDir()}
	var servers []*server.Server
	var bases []string
	for range 2 {
		srv, err := server.Open(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		hs := httptest.NewServer(srv.Handler())
		t.Cleanup(func() {
			hs.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = srv.Close(ctx)
		})
		servers, bases = append(servers, srv), append(bases, hs.URL)
	}
	db := servers[0].DB
	ctx := context.Background()
	owner, _, err := db.AddUser(ctx, blobmark.NewUser{Email: "owner@example.com", Password: "password-123", Organization: "Acme", Role: blobmark.RoleOwner})
	if err != nil {
		t.Fatal(err)
	}
	ownerCtx := blobmark.NewContextWithUser(ctx, owner)
	const annotators, tasks = 6, 24
	var tokens []string
	var ids []int64
	for i := range annotators {
		u, token, err := db.AddUser(ctx, blobmark.NewUser{Email: fmt.Sprintf("a%d@example.com", i), Password: "password-123",
			OrganizationID: owner.OrganizationID, Role: blobmark.RoleAnnotator})
		if err != nil {
			t.Fatal(err)
		}
		tokens, ids = append(tokens, token), append(ids, u.ID)
	}
	for _, overlap := range []int{1, 2} {
		t.Run(fmt.Sprintf("overlap%d", overlap), func(t *testing.T) {
			p := &blobmark.Project{Title: "stream", MaximumAnnotations: overlap}
			if err := db.CreateProject(ownerCtx, p); err != nil {
				t.Fatal(err)
			}
			for _, id := range ids {
				if err := db.AddProjectMember(ctx, p.ID, id); err != nil {
					t.Fatal(err)
				}
			}
			imports := make([]*blobmark.TaskImport, tasks)
			for i := range imports {
				imports[i] = &blobmark.TaskImport{Data: json.RawMessage(fmt.Sprintf(`{"text":"%d"}`, i))}
			}
			res, err := db.ImportTasks(ctx, p.ID, imports)
			if err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			inHand, got := map[int64]int{}, map[int64][]int{}
			var wg sync.WaitGroup
			errs := make(chan error, annotators)
			for w, token := range tokens {
				wg.Go(func() {
					for i := 0; ; i++ {
						base := bases[(w+i)%len(bases)] // each request to either server
						status, body := call(base, token, "GET", fmt.Sprintf("/api/projects/%d/next/", p.ID), "")
						if status == http.StatusNotFound {
							return
						} else if status != http.StatusOK {
							errs <- fmt.Errorf("next: %d %s", status, body)
							return
						}
						var task struct{ ID int64 }
						_ = json.Unmarshal([]byte(body), &task)
						mu.Lock()
						inHand[task.ID]++
						crowded := inHand[task.ID] > overlap
						got[task.ID] = append(got[task.ID], w)
						mu.Unlock()
						if crowded {
							errs <- fmt.Errorf("task %d is in more than %d hands at once", task.ID, overlap)
							return
						}
						status, body = call(bases[(w+i+1)%len(bases)], token, "POST", fmt.Sprintf("/api/tasks/%d/annotations/", task.ID), `{"result":[]}`)
						mu.Lock()
						inHand[task.ID]--
						mu.Unlock()
						if status != http.StatusCreated {
							errs <- fmt.Errorf("submit: %d %s", status, body)
							return
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			for _, id := range res.TaskIDs {
				who := slices.Clone(got[id])
				slices.Sort(who)
				if len(who) != overlap || len(slices.Compact(who)) != overlap {
					t.Errorf("task %d went to annotators %v, want %d different ones", id, got[id], overlap)
				}
				task, err := db.FindTaskByID(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				if task.TotalAnnotations != overlap || !task.IsLabeled {
					t.Errorf("task %d ends with %d annotations, want %d", id, task.TotalAnnotations, overlap)
				}
			}
		})
	}
}

// call sends one request with an API token and returns the status and body.
func call(base, token, method, path, body string) (int, string) {
	req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Token "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw)
}
