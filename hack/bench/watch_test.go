package main

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/tools/cache"
)

func TestCounter(t *testing.T) {
	obj := func(name string, ok bool) *unstructured.Unstructured {
		u := &unstructured.Unstructured{Object: map[string]any{"ok": ok}}
		u.SetName(name)
		return u
	}
	c := newCounter(2, func(u *unstructured.Unstructured) bool { return u.Object["ok"] == true })
	c.OnAdd(obj("a", true), true)
	c.OnAdd(obj("b", false), true)
	c.OnUpdate(nil, obj("a", true)) // the same object again counts once
	if _, ok := c.when(); ok {
		t.Fatal("reached with one of two objects meeting the condition")
	}
	c.OnDelete(cache.DeletedFinalStateUnknown{Key: "ns/a", Obj: obj("a", true)})
	c.OnUpdate(nil, obj("b", true))
	c.OnAdd(obj("c", true), false)
	at, ok := c.when()
	if !ok {
		t.Fatal("not reached with b and c meeting the condition")
	}
	select {
	case <-c.reached:
	default:
		t.Fatal("reached is not closed")
	}
	// The first moment stays: a later change does not move it.
	time.Sleep(time.Millisecond)
	c.OnUpdate(nil, obj("b", false))
	c.OnUpdate(nil, obj("b", true))
	if again, _ := c.when(); !again.Equal(at) {
		t.Errorf("moment moved from %v to %v", at, again)
	}
	if diff := cmp.Diff(map[string]bool{"b": true, "c": true}, c.met); diff != "" {
		t.Errorf("objects meeting the condition (-want +got):\n%s", diff)
	}
}
