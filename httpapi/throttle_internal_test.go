package httpapi

import (
	"fmt"
	"testing"
	"time"
)

// TestLimiterStaysBounded floods the limiter with distinct addresses: the
// map never grows past MaxKeys, and a key that is holding a guesser back
// outlives the flood of keys that hold no one back.
func TestLimiterStaysBounded(t *testing.T) {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	l := newLimiter(Throttle{AddressFailures: 2, MaxKeys: 64, Clock: func() time.Time { return now }})
	guesser := throttleKey{kind: addressKey, id: "203.0.113.7"}
	l.failed(guesser)
	if wait := l.failed(guesser); wait != time.Second {
		t.Fatalf("second failure of two free ones: wait %v, want 1s", wait)
	}
	for i := range 1000 {
		l.failed(throttleKey{kind: addressKey, id: fmt.Sprintf("198.51.%d.%d", i/256, i%256)})
		if n := len(l.keys); n > 64 {
			t.Fatalf("after %d keys the limiter holds %d, more than MaxKeys", i+1, n)
		}
	}
	if wait := l.admit(guesser); wait != time.Second {
		t.Errorf("after the flood the guesser waits %v, want 1s", wait)
	}
}

// TestLimiterForgetsQuietKeys checks that failures are forgotten an hour
// after the last one, and not before.
func TestLimiterForgetsQuietKeys(t *testing.T) {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	l := newLimiter(Throttle{AddressFailures: 2, Clock: func() time.Time { return now }})
	k := throttleKey{kind: addressKey, id: "203.0.113.7"}
	l.failed(k)
	now = now.Add(forgetFailuresAfter - time.Second)
	if wait := l.failed(k); wait != time.Second {
		t.Fatalf("second failure within the hour: wait %v, want 1s", wait)
	}
	now = now.Add(forgetFailuresAfter)
	if wait := l.failed(k); wait != 0 {
		t.Errorf("first failure after a quiet hour: wait %v, want none", wait)
	}
	if len(l.keys) != 1 || l.keys[k].count != 1 {
		t.Errorf("the quiet key was not started afresh: %+v", l.keys[k])
	}
}

// TestLimiterLetsOneAttemptThroughAtATime checks that once a key is past its
// free failures, attempts sent together cannot all pass one opening: the
// first holds the key until it is settled.
func TestLimiterLetsOneAttemptThroughAtATime(t *testing.T) {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	l := newLimiter(Throttle{AccountFailures: 1, AddressFailures: 1, Clock: func() time.Time { return now }})
	account := throttleKey{kind: accountKey, id: "a"}
	address := throttleKey{kind: addressKey, id: "203.0.113.7"}
	l.failed(account, address)
	now = now.Add(time.Second)
	if wait := l.admit(account, address); wait != 0 {
		t.Fatalf("after the wait: %v, want the attempt let through", wait)
	}
	if wait := l.admit(address); wait != time.Second {
		t.Errorf("a second attempt while the first is out: %v, want 1s", wait)
	}
	l.succeeded(account, address)
	if wait := l.admit(account); wait != 0 {
		t.Errorf("the account after a success: %v, want it free", wait)
	}
	if wait := l.admit(address); wait != 0 {
		t.Errorf("the address after a success: %v, want the hold lifted", wait)
	}
	if f := l.keys[address]; f == nil || f.count != 1 {
		t.Errorf("a success cleared the address's failures: %+v", f)
	}
}
