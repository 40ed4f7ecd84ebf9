package sqlstore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"testing"

	"github.com/blobmark/blobmark"
	"github.com/blobmark/blobmark/sqlstore"
)

// Environment of the child processes of TestConcurrentImportsIntoOneProject.
const (
	importChildEnv       = "BLOBMARK_SQLSTORE_IMPORT_CHILD"
	importDatabaseURLEnv = "BLOBMARK_SQLSTORE_IMPORT_DATABASE_URL"
	importProjectEnv     = "BLOBMARK_SQLSTORE_IMPORT_PROJECT"
)

// What each child imports: importRounds imports of importBatch tasks, the
// first importAnnotated of each with one annotation and one prediction.
const (
	importRounds    = 20
	importBatch     = 150 // past copyMinRows: the batches are copied
	importAnnotated = 10
)

// TestConcurrentImportsIntoOneProject runs three processes importing into
// one PostgreSQL project at once, as three replicas would, and wants the
// project's counters exact and its task numbers (inner ids) unique and
// gap-free: 1 … N for N tasks.
func TestConcurrentImportsIntoOneProject(t *testing.T) {
	cfg := preparePostgres(t, sqlstore.Config{})
	db := open(t, cfg)
	p := &blobmark.Project{Title: "shared"}
	if err := db.CreateProject(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	const children = 3
	errs := make(chan error, children)
	for range children {
		cmd := exec.Command(os.Args[0], "-test.run", "^$")
		cmd.Env = append(os.Environ(), importChildEnv+"=1", importDatabaseURLEnv+"="+cfg.DatabaseURL,
			importProjectEnv+"="+strconv.FormatInt(p.ID, 10))
		go func() {
			out, err := cmd.CombinedOutput()
			if err != nil {
				err = fmt.Errorf("%v: %s", err, out)
			}
			errs <- err
		}()
	}
	for range children {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}

	tasks := children * importRounds * importBatch
	annotated := children * importRounds * importAnnotated
	got, err := db.FindProjectByID(t.Context(), p.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.TaskNumber != tasks || got.TotalAnnotationsNumber != annotated || got.TotalPredictionsNumber != annotated ||
		got.NumTasksWithAnnotations != annotated {
		t.Errorf("counters: %d tasks, %d annotations, %d predictions, %d with annotations; want %d, %d, %d, %d",
			got.TaskNumber, got.TotalAnnotationsNumber, got.TotalPredictionsNumber, got.NumTasksWithAnnotations,
			tasks, annotated, annotated, annotated)
	}
	var rows, distinct, lowest, highest int
	if err := db.SQL().QueryRowContext(t.Context(), `SELECT COUNT(*), COUNT(DISTINCT inner_id), MIN(inner_id), MAX(inner_id)
		FROM tasks WHERE project_id = $1`, p.ID).Scan(&rows, &distinct, &lowest, &highest); err != nil {
		t.Fatal(err)
	}
	if rows != tasks || distinct != tasks || lowest != 1 || highest != tasks {
		t.Errorf("inner ids: %d rows, %d distinct, %d … %d; want %d unique, 1 … %d", rows, distinct, lowest, highest, tasks, tasks)
	}
}

// importChild is one of TestConcurrentImportsIntoOneProject's processes.
func importChild() {
	ctx := context.Background()
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "import child:", err)
		os.Exit(2)
	}
	project, err := strconv.ParseInt(os.Getenv(importProjectEnv), 10, 64)
	if err != nil {
		fail(err)
	}
	db, err := sqlstore.Open(ctx, sqlstore.Config{DatabaseURL: os.Getenv(importDatabaseURLEnv), SkipMigrations: true})
	if err != nil {
		fail(err)
	}
	defer db.Close()
	for round := range importRounds {
		batch := make([]*blobmark.TaskImport, importBatch)
		for i := range batch {
			batch[i] = &blobmark.TaskImport{Data: json.RawMessage(fmt.Sprintf(`{"pid":%d,"round":%d,"i":%d}`, os.Getpid(), round, i))}
			if i < importAnnotated {
				batch[i].Annotations = []*blobmark.Annotation{{Result: json.RawMessage(`[]`)}}
				batch[i].Predictions = []*blobmark.Prediction{{Result: json.RawMessage(`[]`)}}
			}
		}
		if _, err := db.ImportTasks(ctx, project, batch); err != nil {
			fail(err)
		}
	}
}
