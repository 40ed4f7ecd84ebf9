// Package formats converts a project's tasks into the dataset formats
// training code reads, with Label Studio's names and layouts (JSON_MIN,
// CSV, TSV, COCO, YOLO, YOLO_OBB, VOC, CONLL2003, ASR_MANIFEST), following
// the conventions of Label Studio's converter so files exported from Label
// Studio and from blobmark are interchangeable.
//
// The input is a stream of tasks (Source), read once. Output is written as
// it is produced: single-file formats straight to the writer, multi-file
// formats as a zip streamed entry by entry. What cannot be streamed in
// order is spooled to a temporary file rather than held in memory: the
// CSV header (the union of all record keys) and COCO's annotations array,
// which comes after the images array in result.json. Memory therefore
// holds one task, the category list and, for YOLO and VOC, the set of
// file names written (to keep a zip free of duplicate entries).
//
// Label Studio's plain JSON export is not produced here: it needs the
// whole task row, so the exporter writes it from the store directly.
package formats
