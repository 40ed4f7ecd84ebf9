package azureblob_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/blobmark/blobmark/azureblob"
	"github.com/blobmark/blobmark/internal/azuretest"
)

// TestOneTokenRequestPerTokenLifetime: a thousand blob operations on one
// config ask the authority for one token (tokens live an hour here).
func TestOneTokenRequestPerTokenLifetime(t *testing.T) {
	env := azuretest.Start(t)
	ctx := context.Background()
	conn := azureblob.NewConnector(env.Options())
	cfg := env.ServicePrincipalConfig()
	name := env.NewContainer(t)
	before, blobsBefore := env.Count("token:"+cfg.ClientID), env.Count("blob")
	for i := 0; i < 1000; i++ {
		c, err := conn.Container(ctx, cfg, name)
		if err != nil {
			t.Fatal(err)
		}
		key := fmt.Sprintf("b%03d", (i/2)%10)
		if i%2 == 0 {
			_, err = c.UploadBytes(ctx, key, []byte("x"), "")
		} else {
			_, err = c.Properties(ctx, key)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := env.Count("blob") - blobsBefore; n < 1000 {
		t.Fatalf("only %d blob requests were made", n)
	}
	if n := env.Count("token:"+cfg.ClientID) - before; n != 1 {
		t.Fatalf("%d token requests for 1000 operations, want 1", n)
	}
}

// TestOneDelegationKeyForManySAS: a thousand user delegation SAS share one
// delegation key request.
func TestOneDelegationKeyForManySAS(t *testing.T) {
	env := azuretest.Start(t)
	ctx := context.Background()
	conn := azureblob.NewConnector(env.Options())
	c, err := conn.Container(ctx, env.ManagedIdentityConfig("object_id"), env.NewContainer(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.UploadBytes(ctx, "last.txt", []byte("ok"), ""); err != nil {
		t.Fatal(err)
	}
	before := env.Count("udk")
	var url string
	for i := 0; i < 1000; i++ {
		var kind azureblob.SASKind
		url, kind, err = c.SignURL(ctx, fmt.Sprintf("img/%d.jpg", i), time.Duration(1+i%60)*time.Minute)
		if err != nil || kind != azureblob.SASUserDelegation {
			t.Fatalf("SignURL: %v %v", kind, err)
		}
	}
	if n := env.Count("udk") - before; n != 1 {
		t.Fatalf("%d delegation key requests for 1000 SAS, want 1", n)
	}
	url, _, _ = c.SignURL(ctx, "last.txt", time.Minute)
	if status, body := get(t, env, url); status != 200 || body != "ok" {
		t.Fatalf("GET with cached-key SAS: %d %q", status, body)
	}
	// A SAS longer than the cached key's remaining life needs a new key.
	if _, _, err := c.SignURL(ctx, "last.txt", 3*24*time.Hour); err != nil {
		t.Fatal(err)
	}
	if n := env.Count("udk") - before; n != 2 {
		t.Fatalf("%d delegation key requests after a 3-day SAS, want 2", n)
	}
	if _, _, err := c.SignURL(ctx, "last.txt", 8*24*time.Hour); err == nil {
		t.Fatal("an 8-day user delegation SAS was signed; Azure caps delegation keys at 7 days")
	}
}
