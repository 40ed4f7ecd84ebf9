// Command yamltojson reads a stream of YAML documents (such as the output of
// helm template) on stdin and writes them to stdout as one JSON array, one
// element per non-empty document. The deployment tests in the main module
// parse its output with encoding/json, which keeps a YAML parser out of the
// main module's dependencies.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"go.yaml.in/yaml/v3"
)

func main() {
	if err := convert(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "yamltojson:", err)
		os.Exit(1)
	}
}

func convert(r io.Reader, w io.Writer) error {
	dec := yaml.NewDecoder(r)
	docs := []any{}
	for i := 1; ; i++ {
		var doc any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("document %d: %w", i, err)
		}
		if doc != nil {
			docs = append(docs, doc)
		}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(docs)
}
