package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"

	"github.com/backupbot/backupbot/commands"
)

// PlanHash binds an approval to one exact preview: a hex SHA-256 of the
// typed command (its action and every field) and the plan bytes the
// preview produced. Call it with the same plan encoding when the request is
// made and again when the approval is clicked; if the data changed so the
// plan differs, the hashes differ and a new approval is needed.
func PlanHash(cmd commands.Command, plan []byte) string {
	h := sha256.New()
	h.Write([]byte("backupbot plan v1\x00"))
	if cmd != nil {
		h.Write([]byte(cmd.Action()))
		h.Write([]byte{0})
		// Commands are plain structs of strings, numbers and bools:
		// encoding/json renders them the same way every time.
		b, err := json.Marshal(cmd)
		if err != nil {
			b = []byte(err.Error())
		}
		h.Write(b)
	}
	h.Write([]byte{0})
	h.Write(plan)
	return hex.EncodeToString(h.Sum(nil))
}
