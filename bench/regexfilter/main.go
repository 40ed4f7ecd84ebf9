// Command regexfilter measures the peak memory (VmHWM) of matching keys
// against a storage's regex_filter, each case in a process of its own so
// that one case's peak cannot hide another's:
//
//   - baseline: a process that does nothing, the floor of every other case;
//   - refused: the 120 KB expression of 20,000 capturing groups, checked as
//     a storage create or a sync checks it now (importer.Options.Validate);
//   - at the bounds: the costliest filter the bounds admit, 64 groups in an
//     alternation of about MaxFilterInstructions, compiled as a sync
//     compiles it and matched against two keys;
//   - unbounded: the same 120 KB expression compiled with the standard
//     library alone, as every sync did before the bounds, and matched against
//     two keys. Go's regexp needs memory proportional to the program times
//     its capturing groups; it is quadratic in the length, so the default
//     run stops at an eighth and a quarter of the length, and -full adds
//     the half and the whole (which needs several GB of free memory).
//
// Run it with `go run ./bench/regexfilter`. It never fails on a number.
//
// Like every program under bench/, it may import any blobmark package.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"regexp/syntax"
	"runtime"
	"strconv"
	"strings"

	"github.com/blobmark/blobmark/bench/benchkit"
	"github.com/blobmark/blobmark/importer"
)

// keys are what the expression is matched against: a two-blob sync.
var keys = []string{"img/2024-05-01/camera-01/frame-000001.png", "img/2024-05-01/camera-01/frame-000002.png"}

// hostile is the expression of groups groups: "(abc)|(abc)|…", 6 bytes each.
func hostile(groups int) string {
	return strings.TrimSuffix(strings.Repeat("(abc)|", groups), "|")
}

// atBounds is the costliest filter the bounds admit: the most capturing
// groups, then runs of optional characters, each of which keeps a thread
// of the match alive at every step, for as many instructions as allowed.
func atBounds() string {
	expr := strings.Repeat("(.?)", importer.MaxFilterGroups)
	for {
		next := expr + ".{0,1000}"
		if _, err := importer.CompileFilter(next); err != nil {
			return expr
		}
		expr = next
	}
}

const childEnv = "BLOBMARK_BENCH_REGEX_CASE"

func main() {
	if c := os.Getenv(childEnv); c != "" {
		child(c)
		return
	}
	full := flag.Bool("full", false, "also measure the unbounded half and whole expression (the runtime reserves several GB)")
	flag.Parse()
	base := run("baseline")
	fmt.Printf("%-32s %11s %12s %7s %12s %8s\n", "case", "regex bytes", "peak RSS", "÷ base", "Go runtime", "÷ base")
	show := func(name string, bytes int, r result) {
		fmt.Printf("%-32s %11d %9.1f MB %6.1fx %9.1f MB %7.1fx  %s\n", name, bytes,
			float64(r.rssKB)/1024, float64(r.rssKB)/float64(base.rssKB),
			float64(r.sysKB)/1024, float64(r.sysKB)/float64(base.sysKB), r.note)
	}
	show("baseline", 0, base)
	show("120 KB expression, refused", len(hostile(20000)), run("refused"))
	show("costliest filter within bounds", len(atBounds()), run("bounds"))
	parts := []int{8, 4}
	if *full {
		parts = append(parts, 2, 1)
	}
	for _, p := range parts {
		show(fmt.Sprintf("unbounded, 1/%d of 120 KB", p), len(hostile(20000/p)), run("unbounded:"+strconv.Itoa(20000/p)))
	}
}

// result is a case's peak resident memory, the memory the Go runtime
// obtained from the system (what it holds on to, touched or not: Linux
// backs a page only once it is written, so a fresh allocation that a match
// never writes stays out of the RSS until the heap reuses it), and a note.
type result struct {
	rssKB, sysKB int64
	note         string
}

// run measures one case in a child process.
func run(c string) result {
	exe, err := os.Executable()
	benchkit.Check(err)
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), childEnv+"="+c)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	benchkit.Check(err)
	f := strings.SplitN(strings.TrimSpace(string(out)), " ", 3)
	if len(f) < 2 {
		benchkit.Fatal("case " + c + " printed " + string(out))
	}
	var r result
	r.rssKB, err = strconv.ParseInt(f[0], 10, 64)
	benchkit.Check(err)
	r.sysKB, err = strconv.ParseInt(f[1], 10, 64)
	benchkit.Check(err)
	if len(f) == 3 {
		r.note = f[2]
	}
	return r
}

// child runs one case and prints its peak RSS and the runtime's memory,
// in KiB, and a note.
func child(c string) {
	note := ""
	switch name, arg, _ := strings.Cut(c, ":"); name {
	case "baseline":
	case "refused":
		err := importer.Options{Container: "c", RegexFilter: hostile(20000)}.Validate()
		if err == nil {
			benchkit.Fatal("the 120 KB expression was accepted")
		}
		note = "refused: " + err.Error()
	case "bounds":
		re, err := importer.CompileFilter(atBounds())
		benchkit.Check(err)
		note = fmt.Sprintf("%d instructions, matched: %v", programLen(atBounds()), matchAll(re))
	case "unbounded":
		groups, err := strconv.Atoi(arg)
		benchkit.Check(err)
		re := regexp.MustCompile(`\A(?:` + hostile(groups) + `)`)
		note = fmt.Sprintf("%d groups, matched: %v", groups, matchAll(re))
	default:
		benchkit.Fatal("unknown case " + c)
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Println(benchkit.ProcStatusKB("VmHWM"), ms.Sys>>10, note)
}

func matchAll(re *regexp.Regexp) bool {
	ok := true
	for _, k := range keys {
		ok = re.MatchString(k) && ok
	}
	return ok
}

// programLen is the number of instructions regexp compiles expr to, as a
// sync anchors it.
func programLen(expr string) int {
	re, err := syntax.Parse(`\A(?:`+expr+`)`, syntax.Perl)
	benchkit.Check(err)
	prog, err := syntax.Compile(re.Simplify())
	benchkit.Check(err)
	return len(prog.Inst)
}
