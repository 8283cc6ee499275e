package discord

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	"github.com/backupbot/backupbot/internal/tick"
)

// DefaultAPIURL is Discord's REST API base address (API version 10).
const DefaultAPIURL = "https://discord.com/api/v10"

// userAgent follows the form Discord requires of bots.
const userAgent = "DiscordBot (https://github.com/backupbot/backupbot, 1)"

// maxRateLimitRetries bounds how often one call is repeated after 429s.
const maxRateLimitRetries = 10

// maxErrorBody is how much of an error response is read for its message.
const maxErrorBody = 64 << 10

// Discord JSON error codes the adapter reacts to
// (https://discord.com/developers/docs/topics/opcodes-and-status-codes#json).
const (
	codeUnknownMessage       = 10008
	codeMissingAccess        = 50001
	codeMissingPermissions   = 50013
	codeWrongChannelType     = 50024
	codeThreadAlreadyCreated = 160004
)

// restClient makes Discord REST calls with net/http against a base address
// that tests and private deployments can change (DISCORD_API_URL).
//
// It does not use discordgo's Session: discordgo builds its endpoints from
// package-level variables (changing them would be global state shared by
// every Session in the process), and its REST layer sleeps out a 429
// without looking at the context. A transport that rewrote discord.com to
// another host would work but hide where calls go. Five small calls on
// net/http keep the base address explicit and let every wait end with ctx.
// discordgo's types are still used for the payloads.
type restClient struct {
	base  string
	token string
	http  *http.Client
	log   *slog.Logger
}

// file is one attachment of a multipart request.
type file struct {
	Name string
	Data []byte
}

// request is one REST call: a JSON payload, sent as multipart with
// payload_json and files[n] parts when files are attached.
type request struct {
	Method string
	Path   string
	JSON   any
	Files  []file
	// What names the call in errors and logs ("posting to channel 123").
	What string
}

// apiError is a non-2xx answer from Discord.
type apiError struct {
	Status  int
	Code    int
	Message string
}

func (e *apiError) Error() string {
	msg := fmt.Sprintf("Discord answered HTTP %d", e.Status)
	if e.Message != "" {
		msg += ": " + e.Message
	}
	if e.Code != 0 {
		msg += fmt.Sprintf(" (code %d)", e.Code)
	}
	if hint := e.hint(); hint != "" {
		msg += " (" + hint + ")"
	}
	return msg
}

// hint says what an operator can do about the errors they can fix.
func (e *apiError) hint() string {
	switch {
	case e.Status == http.StatusUnauthorized:
		return "check DISCORD_BOT_TOKEN"
	case e.Code == codeMissingAccess:
		return "add the bot to the server and let it view the channel"
	case e.Code == codeMissingPermissions:
		return "give the bot Send Messages, Send Messages in Threads, Create Public Threads and Attach Files in the channel"
	}
	return ""
}

// rateLimitedError is a 429 answer: wait RetryAfter, then call again.
type rateLimitedError struct {
	RetryAfter time.Duration
	Global     bool
}

func (e *rateLimitedError) Error() string {
	return fmt.Sprintf("rate limited by Discord, retry after %v", e.RetryAfter)
}

// hasCode reports whether err is a Discord API error with the JSON code.
func hasCode(err error, code int) bool {
	ae, ok := errors.AsType[*apiError](err)
	return ok && ae.Code == code
}

// do runs req, waiting out 429s (Discord's retry_after, at least 100 ms)
// and calling again, and decodes a JSON answer into out when out != nil.
func (c *restClient) do(ctx context.Context, req request, out any) error {
	for attempt := 0; ; attempt++ {
		body, err := c.once(ctx, req)
		if rl, limited := errors.AsType[*rateLimitedError](err); limited && attempt < maxRateLimitRetries {
			c.log.Info("discord: rate limited, waiting", slog.String("call", req.What), slog.Duration("retry_after", rl.RetryAfter),
				slog.Bool("global", rl.Global))
			if err := tick.Sleep(ctx, rl.RetryAfter); err != nil {
				return fmt.Errorf("%s: waiting out Discord's rate limit: %w", req.What, err)
			}
			continue
		}
		if err != nil {
			return err
		}
		if out != nil && len(body) > 0 {
			if err := json.Unmarshal(body, out); err != nil {
				return fmt.Errorf("%s: Discord's answer is not the JSON expected: %w", req.What, err)
			}
		}
		return nil
	}
}

// once makes one attempt of req. A 429 comes back as *rateLimitedError,
// any other non-2xx answer as *apiError, both wrapped with req.What.
func (c *restClient) once(ctx context.Context, req request) ([]byte, error) {
	body, contentType, err := encode(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", req.What, err)
	}
	hreq, err := http.NewRequestWithContext(ctx, req.Method, c.base+req.Path, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("%s: building the request: %w", req.What, err)
	}
	hreq.Header.Set("Authorization", "Bot "+c.token)
	hreq.Header.Set("User-Agent", userAgent)
	if contentType != "" {
		hreq.Header.Set("Content-Type", contentType)
	}
	resp, err := c.http.Do(hreq)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", req.What, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusTooManyRequests {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		return nil, fmt.Errorf("%s: %w", req.What, rateLimited(resp.Header, data))
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		ae := &apiError{Status: resp.StatusCode}
		var payload struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		}
		if json.Unmarshal(data, &payload) == nil {
			ae.Code, ae.Message = payload.Code, payload.Message
		}
		return nil, fmt.Errorf("%s: %w", req.What, ae)
	}
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%s: reading Discord's answer: %w", req.What, err)
	}
	return data, nil
}

// rateLimited reads how long to wait from a 429: retry_after (seconds,
// fractional) in the JSON body, else the Retry-After header, else one
// second; never less than 100 ms.
func rateLimited(h http.Header, body []byte) *rateLimitedError {
	rl := &rateLimitedError{RetryAfter: time.Second}
	var payload struct {
		RetryAfter *float64 `json:"retry_after"`
		Global     bool     `json:"global"`
	}
	if json.Unmarshal(body, &payload) == nil && payload.RetryAfter != nil && !math.IsNaN(*payload.RetryAfter) {
		rl.RetryAfter = time.Duration(*payload.RetryAfter * float64(time.Second))
		rl.Global = payload.Global
	} else if secs, err := strconv.ParseFloat(strings.TrimSpace(h.Get("Retry-After")), 64); err == nil {
		rl.RetryAfter = time.Duration(secs * float64(time.Second))
	}
	if h.Get("X-RateLimit-Global") == "true" {
		rl.Global = true
	}
	rl.RetryAfter = min(max(rl.RetryAfter, 100*time.Millisecond), time.Hour)
	return rl
}

// encode builds the body of req: JSON, or multipart/form-data with the
// JSON as payload_json and the files as files[0], files[1], ...
func encode(req request) ([]byte, string, error) {
	if req.JSON == nil && len(req.Files) == 0 {
		return nil, "", nil
	}
	payload, err := json.Marshal(req.JSON)
	if err != nil {
		return nil, "", fmt.Errorf("encoding the payload: %w", err)
	}
	if len(req.Files) == 0 {
		return payload, "application/json", nil
	}
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="payload_json"`)
	h.Set("Content-Type", "application/json")
	pw, err := mw.CreatePart(h)
	if err != nil {
		return nil, "", fmt.Errorf("building the multipart body: %w", err)
	}
	if _, err := pw.Write(payload); err != nil {
		return nil, "", fmt.Errorf("building the multipart body: %w", err)
	}
	for i, f := range req.Files {
		fw, err := mw.CreateFormFile(fmt.Sprintf("files[%d]", i), f.Name)
		if err != nil {
			return nil, "", fmt.Errorf("building the multipart body: %w", err)
		}
		if _, err := fw.Write(f.Data); err != nil {
			return nil, "", fmt.Errorf("building the multipart body: %w", err)
		}
	}
	if err := mw.Close(); err != nil {
		return nil, "", fmt.Errorf("building the multipart body: %w", err)
	}
	return buf.Bytes(), mw.FormDataContentType(), nil
}
