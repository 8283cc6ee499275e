package slack

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"net/http"

	"github.com/backupbot/backupbot/bot"
)

// maxCountedBody is how much of a Web API answer slackErrors reads to see
// whether it says "ok": false; a longer answer is passed on unread.
const maxCountedBody = 1 << 20

// slackErrors counts the Web API's error answers that come with HTTP 200:
// a JSON body saying "ok": false (Slack's way of failing a call). HTTP
// errors and 429s are counted by the bot.ChatAPIErrors transport it wraps.
type slackErrors struct {
	errs *bot.ChatAPIErrors
	next http.RoundTripper
}

func (t slackErrors) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusOK || resp.ContentLength > maxCountedBody {
		return resp, err
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "application/json" {
		return resp, nil
	}
	body, rerr := io.ReadAll(io.LimitReader(resp.Body, maxCountedBody+1))
	rest := resp.Body
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(body), rest), rest}
	if rerr != nil || len(body) > maxCountedBody {
		return resp, nil
	}
	var answer struct {
		OK *bool `json:"ok"`
	}
	if json.Unmarshal(body, &answer) == nil && answer.OK != nil && !*answer.OK {
		t.errs.Count(bot.Slack, bot.APIErrorAnswer)
	}
	return resp, nil
}
