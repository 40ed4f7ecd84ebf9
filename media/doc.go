// Package media is the pure core of media access: it rewrites azure-blob://
// and blob-service URLs in task data into blobmark's own resolve URLs, checks
// that a requested URI really belongs to a task or project, decides between a
// presigned redirect and a streamed proxy (Resolver), and streams a blob with
// correct HTTP range and caching semantics.
//
// It imports only the standard library and the domain package, and works on
// the domain's own media types (blobmark.MediaResolver, MediaLocation,
// MediaBlob): the HTTP routes only read the request, ask the Resolver and
// write its Decision, and every rule can be tested without a server or a
// storage account.
//
// The wire format follows Label Studio: a URI is carried as
// <host>/tasks/<id>/resolve/?fileuri=<padded base64url of the URI>. The
// behaviour is stricter: a URI must occur in the task's data to be resolved,
// a blob URL is matched to a storage by account and container, and ranges
// follow RFC 9110.
package media
