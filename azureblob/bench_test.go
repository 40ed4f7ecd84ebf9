package azureblob_test

import (
	"context"
	"testing"
	"time"

	"github.com/blobmark/blobmark/azureblob"
	"github.com/blobmark/blobmark/internal/azuretest"
)

func benchSign(b *testing.B, cfg azureblob.Config, want azureblob.SASKind) {
	env := azuretest.Start(b)
	ctx := context.Background()
	c, err := azureblob.NewConnector(env.Options()).Container(ctx, cfg, env.NewContainer(b))
	if err != nil {
		b.Fatal(err)
	}
	if _, _, err := c.SignURL(ctx, "warm.jpg", time.Minute); err != nil { // fetches the delegation key once
		b.Fatal(err)
	}
	udk := env.Count("udk")
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		_, kind, err := c.SignURL(ctx, "images/photo 1.jpg", 15*time.Minute)
		if err != nil || kind != want {
			b.Fatal(kind, err)
		}
	}
	b.ReportMetric(float64(env.Count("udk")-udk), "udk-requests")
}

// BenchmarkSignServiceSAS measures minting a service SAS from an account key.
func BenchmarkSignServiceSAS(b *testing.B) {
	benchSign(b, azuretest.Start(b).AccountKeyConfig(), azureblob.SASService)
}

// BenchmarkSignUserDelegationSAS measures minting a user delegation SAS
// with the delegation key already cached.
func BenchmarkSignUserDelegationSAS(b *testing.B) {
	benchSign(b, azuretest.Start(b).ServicePrincipalConfig(), azureblob.SASUserDelegation)
}

// BenchmarkTokenRequestsPer1000Ops reports how many token requests 1,000
// blob operations cost with an Entra ID credential, the first token
// included (the goal is one per token lifetime).
func BenchmarkTokenRequestsPer1000Ops(b *testing.B) {
	env := azuretest.Start(b)
	ctx := context.Background()
	cfg := env.ServicePrincipalConfig()
	conn := azureblob.NewConnector(env.Options())
	name := env.NewContainer(b)
	before := env.Count("token:" + cfg.ClientID) // counts the first token too
	c, err := conn.Container(ctx, cfg, name)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := c.UploadBytes(ctx, "p.txt", []byte("x"), ""); err != nil {
		b.Fatal(err)
	}
	batches := 0
	for b.Loop() {
		for i := 0; i < 1000; i++ {
			if _, err := c.Properties(ctx, "p.txt"); err != nil {
				b.Fatal(err)
			}
		}
		batches++
	}
	b.ReportMetric(float64(env.Count("token:"+cfg.ClientID)-before)/float64(batches), "tokens/1000ops")
}
