// Package lswire is Label Studio's task, annotation, prediction and
// annotator on the wire: the fields its serializers write, their names,
// their empty values and the order each serializer writes them in, defined
// once for the REST API (httpapi) and the exports (exporter), which both
// answer Label Studio clients.
//
// It imports only the standard library and the domain package.
package lswire
