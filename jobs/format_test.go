package jobs

import "testing"

// Counts read as English: "1 backup", "3 backups", "0 jobs".
func TestPlural(t *testing.T) {
	for _, tc := range []struct {
		n          int
		noun, want string
	}{{0, "job", "0 jobs"}, {1, "backup", "1 backup"}, {3, "backup", "3 backups"}, {1204, "file", "1,204 files"}} {
		if got := plural(tc.n, tc.noun); got != tc.want {
			t.Errorf("plural(%d, %q) = %q, want %q", tc.n, tc.noun, got, tc.want)
		}
	}
}
