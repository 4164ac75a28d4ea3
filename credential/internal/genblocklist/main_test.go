package main

import (
	"slices"
	"testing"
)

func TestBuild(t *testing.T) {
	lines := []string{"123456", "Password", "PASSWORD", "ｐａｓｓｗｏｒｄ", "", "tab\there", "bad\xff", "zebra", "abc", "never kept"}
	got, dropped := build(lines, 9)
	want := []string{"123456", "abc", "password", "zebra"}
	if !slices.Equal(got, want) || dropped != 5 {
		t.Fatalf("build = %q, %d dropped; want %q, 5 dropped", got, dropped, want)
	}
}
