// Package alerts is what on-call staff rely on: job outcomes recorded in
// Redis by whichever worker ran the job (Recorder, a hook on the worker's
// final events) and exported at scrape time by any process that serves
// /metrics (Collector), so that alert rules like "no good backup of X for
// a day" see the same values whichever process answers the scrape.
//
// Workers only write state here; they never post to chat (the house plan:
// workers publish events, adapters post).
package alerts
