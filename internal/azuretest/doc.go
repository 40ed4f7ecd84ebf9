// Package azuretest runs the Azure side of blobmark's tests on loopback: one
// HTTPS Azurite with OAuth, a fake Entra ID authority, a fake managed
// identity endpoint, and an HTTP client that trusts them. Any package's
// tests can use it:
//
//	func TestMain(m *testing.M) { azuretest.Main(m) }
//
//	func TestX(t *testing.T) {
//		env := azuretest.Start(t)
//		conn := azureblob.NewConnector(env.Options())
//		c, _ := conn.Container(ctx, env.AccountKeyConfig(), env.NewContainer(t))
//	}
//
// Azurite comes from the repository's package-lock.json (`npm ci` at the
// repository root); nothing is installed at test time.
//
// It imports the Azure SDK and the connector with its egress guard, to
// build clients and configs the way the server does; only tests and
// benchmarks import it.
package azuretest
