package main

import "testing"

func TestPep440ToSemver(t *testing.T) {
	for in, want := range map[string]string{
		"6.11.1":            "6.11.1",
		"1.2":               "1.2.0",
		"1.2.3a4":           "1.2.3-alpha.4",
		"1.2.3b4":           "1.2.3-beta.4",
		"1.2.3rc4":          "1.2.3-rc.4",
		"1.2.3.post4":       "1.2.3+post4",
		"1.2.3.dev5":        "1.2.3+dev5",
		"1.2.3.post4.dev5":  "1.2.3+post4dev5",
		"3.31.0a1605189729": "3.31.0-alpha.1605189729",
	} {
		got, err := pep440ToSemver(in)
		if err != nil || got != want {
			t.Errorf("pep440ToSemver(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "1!2.0", "1.2.3+local", "x1"} {
		if got, err := pep440ToSemver(bad); err == nil {
			t.Errorf("pep440ToSemver(%q) = %q, want an error", bad, got)
		}
	}
}
