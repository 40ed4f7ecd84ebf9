package blobmark_test

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/blobmark/blobmark"

// importRules says which of the module's packages each library package may
// import, as the packages' doc.go files state it: the domain at the root
// imports only the standard library; the pure cores only the domain; the
// adapters the domain, the cores and the small policy packages, never each
// other. "std" marks a package limited to the standard library.
var importRules = map[string][]string{
	".":         {"std"},
	"egress":    {"std"},
	"seal":      {"std"},
	"readahead": {"std"},
	"importer":  {".", "lswire"},
	"lswire":    {"."},
	"exporter":  {".", "lswire", "exporter/formats", "readahead"},
	// The format catalog and converters: pure, so the API may read which
	// formats a project offers from it as it reads wire shapes from lswire.
	"exporter/formats": {".", "lswire", "readahead"},
	"media":            {"."},
	"metrics":          {"."},
	"storetest":        {"."},
	"azureblob":        {".", "egress", "importer", "exporter"},
	"sqlstore":         {".", "importer", "exporter", "seal"},
	"httpapi":          {".", "egress", "importer", "lswire", "exporter/formats", "media", "ui"},
	"jobs":             {".", "egress", "importer", "exporter"},
	"ui":               {"std"},
}

// TestImportRules reads every library package's imports and checks them
// against importRules, so that the layout the docs describe is the one
// the code has.
func TestImportRules(t *testing.T) {
	for dir, allowed := range importRules {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil || len(files) == 0 {
			t.Fatalf("%s: no Go files (%v)", dir, err)
		}
		for _, file := range files {
			if strings.HasSuffix(file, "_test.go") {
				continue
			}
			src, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			f, err := parser.ParseFile(token.NewFileSet(), file, src, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range f.Imports {
				path := strings.Trim(imp.Path.Value, `"`)
				first, _, _ := strings.Cut(path, "/")
				switch {
				case !strings.Contains(first, "."):
					// the standard library
				case path == module || strings.HasPrefix(path, module+"/"):
					pkg := strings.TrimPrefix(strings.TrimPrefix(path, module), "/")
					if pkg == "" {
						pkg = "."
					}
					if !slices.Contains(allowed, pkg) {
						t.Errorf("%s imports %s; %s may import only %v", file, pkg, dir, allowed)
					}
				case slices.Contains(allowed, "std"):
					t.Errorf("%s imports %s; %s may import only the standard library", file, path, dir)
				}
			}
		}
	}
}
