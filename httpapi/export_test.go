package httpapi

import "time"

// HoldImportSlots takes every slot for large imports of s (after Handler),
// as that many imports in progress would, so that a test fills the server
// without timing anything; release gives them back.
func HoldImportSlots(s *Server) (release func()) {
	n := cap(s.importSlots)
	for range n {
		s.importSlots <- struct{}{}
	}
	return func() {
		for range n {
			<-s.importSlots
		}
	}
}

// SetImportSlotWait sets how long a large import waits for a slot.
func SetImportSlotWait(s *Server, d time.Duration) { s.slotWait = d }
