// Package azureblob is blobmark's connector to Azure Blob Storage: one
// Config with an explicit auth type, one function that turns it into a
// credential, a cache of clients (one per distinct config), streaming list,
// read, write and delete, SAS minting (service SAS from a key, user
// delegation SAS from any Entra ID credential), and the
// translation of Azure errors into *blobmark.Error with actionable messages.
//
// It imports the Azure SDK, the domain package, egress (every connection it
// makes is dialled through a guard) and the engines whose interfaces it
// implements (importer, exporter); never the store, the job workers or the
// HTTP API.
package azureblob
