package discord

import (
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// maxClockSkew is how far X-Signature-Timestamp may be from now; older
// requests are refused as replays.
const maxClockSkew = 5 * time.Minute

// parsePublicKey reads the application's public key as the developer
// portal shows it (64 hex digits).
func parsePublicKey(s string) (ed25519.PublicKey, error) {
	key, err := hex.DecodeString(s)
	if err != nil || len(key) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("discord: DISCORD_PUBLIC_KEY must be the application's public key from the developer portal "+
			"(%d hex digits), got %d characters that are not", 2*ed25519.PublicKeySize, len(s))
	}
	return ed25519.PublicKey(key), nil
}

// verified wraps next so that it only ever sees requests Discord signed
// with the application's key. The checks run before anything else: the
// headers and the timestamp (within five minutes) first, then the body is
// read with a size limit, then the Ed25519 signature over timestamp+body
// is checked. A bad, missing or stale signature gets 401, an oversized body
// 413; next is not called in either case.
//
// discordgo.VerifyInteraction does the same signature check but reads the
// body without a limit and accepts any timestamp, hence this one.
func (a *Adapter) verified(next func(w http.ResponseWriter, r *http.Request, body []byte)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sig, err := hex.DecodeString(r.Header.Get("X-Signature-Ed25519"))
		if err != nil || len(sig) != ed25519.SignatureSize {
			a.gate.Reject(w, r, http.StatusUnauthorized, "X-Signature-Ed25519 missing or malformed", err)
			return
		}
		ts := r.Header.Get("X-Signature-Timestamp")
		secs, err := strconv.ParseInt(ts, 10, 64)
		if err != nil {
			a.gate.Reject(w, r, http.StatusUnauthorized, "X-Signature-Timestamp missing or malformed", err)
			return
		}
		if skew := time.Since(time.Unix(secs, 0)); skew > maxClockSkew || skew < -maxClockSkew {
			a.gate.Reject(w, r, http.StatusUnauthorized, "timestamp too far from now (replayed, or a clock is wrong)",
				fmt.Errorf("off by %v", skew.Round(time.Second)))
			return
		}
		body, ok := a.gate.Body(w, r)
		if !ok {
			return
		}
		signed := make([]byte, 0, len(ts)+len(body))
		signed = append(append(signed, ts...), body...)
		if !ed25519.Verify(a.key, signed, sig) {
			a.gate.Reject(w, r, http.StatusUnauthorized, "signature does not match the body", errors.New("ed25519 verification failed"))
			return
		}
		next(w, r, body)
	}
}
