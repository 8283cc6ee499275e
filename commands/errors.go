package commands

import (
	"strings"
	"unicode/utf8"
)

// Error is a /backup command that could not be understood. Error() reads
// as one line a chat user can act on.
type Error struct {
	// Action is the action being parsed, when it was known.
	Action Action `json:"action,omitempty"`
	// Flag is the flag at fault, without dashes, when there is one.
	Flag string `json:"flag,omitempty"`
	// Message says what is wrong.
	Message string `json:"message"`
	// Suggestion is what the user probably meant (an action, a flag with
	// its dashes, or a value), when there is a close match.
	Suggestion string `json:"suggestion,omitempty"`
	// Hint is one more sentence on how to fix it, when useful.
	Hint string `json:"hint,omitempty"`
}

// Error implements error.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Message)
	if e.Suggestion != "" {
		b.WriteString("; did you mean `")
		b.WriteString(e.Suggestion)
		b.WriteString("`?")
	}
	if e.Hint != "" {
		if e.Suggestion == "" {
			b.WriteString(".")
		}
		b.WriteString(" ")
		b.WriteString(e.Hint)
	}
	return b.String()
}

// suggest returns the candidate closest to word by optimal string alignment
// distance (Damerau-Levenshtein with adjacent swaps), or a unique candidate
// that word is a prefix of, or "" when nothing is close enough.
func suggest(word string, candidates []string) string {
	word = strings.ToLower(word)
	if word == "" || utf8.RuneCountInString(word) > 64 {
		return ""
	}
	best, bestDist := "", 0
	for _, c := range candidates {
		d := osaDistance(word, strings.ToLower(c))
		if best == "" || d < bestDist {
			best, bestDist = c, d
		}
	}
	if best != "" && bestDist <= maxTypos(utf8.RuneCountInString(word)) {
		return best
	}
	if utf8.RuneCountInString(word) >= 2 { // a unique prefix: --al means --all
		var match string
		for _, c := range candidates {
			if strings.HasPrefix(strings.ToLower(c), word) {
				if match != "" {
					return ""
				}
				match = c
			}
		}
		return match
	}
	return ""
}

// maxTypos is how many edits a word of n runes may be away from a
// suggestion.
func maxTypos(n int) int {
	switch {
	case n <= 2:
		return 0
	case n <= 4:
		return 1
	case n <= 8:
		return 2
	default:
		return 3
	}
}

// osaDistance is the optimal string alignment distance between a and b:
// insertions, deletions, substitutions and swaps of adjacent runes.
func osaDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}

// Suggest returns the candidate closest to word (a typo of it, or a name
// it is a unique prefix of), or "" when none is close enough: the same
// suggestions the parser makes, for checks made outside it (a name the
// configuration lacks).
func Suggest(word string, candidates []string) string { return suggest(word, candidates) }
