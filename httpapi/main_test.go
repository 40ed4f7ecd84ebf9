package httpapi_test

import (
	"testing"

	"github.com/blobmark/blobmark/internal/azuretest"
)

// TestMain stops the Azurite environment the storage tests start.
func TestMain(m *testing.M) { azuretest.Main(m) }
