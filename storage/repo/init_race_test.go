package repo

import (
	"errors"
	"sync"
	"testing"
)

// Two creators racing on one empty location must end with one repository
// that both then use: the loser reports ErrExists, leaves no key file of
// its own behind, and opening with the password finds the winner's key.
func TestConcurrentInitLeavesOneRepository(t *testing.T) {
	for _, encrypt := range []bool{false, true} {
		for round := 0; round < 10; round++ {
			be := newLocal(t)
			ctx := t.Context()
			const n = 4
			var wg sync.WaitGroup
			errs := make([]error, n)
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					r, err := Init(ctx, be, InitOptions{Password: "pw", Encrypt: encrypt})
					if err == nil {
						_ = r.Close()
					}
					errs[i] = err
				}()
			}
			wg.Wait()
			won := 0
			for _, err := range errs {
				switch {
				case err == nil:
					won++
				case !errors.Is(err, ErrExists):
					t.Fatalf("encrypt=%v: Init failed with %v, want success or ErrExists", encrypt, err)
				}
			}
			if won != 1 {
				t.Fatalf("encrypt=%v: %d creators won, want exactly 1", encrypt, won)
			}
			r, err := Open(ctx, be, "pw", nil)
			if err != nil {
				t.Fatalf("encrypt=%v: opening after the race: %v", encrypt, err)
			}
			if encrypt {
				keys, err := r.Keys(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if len(keys) != 1 {
					t.Errorf("encrypt=%v: %d key files after the race, want 1 (losers remove theirs)", encrypt, len(keys))
				}
			}
			_ = r.Close()
		}
	}
}
