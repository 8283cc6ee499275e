package jobs

import "errors"

// FailedWithResult marks a failure whose work ran to the end and whose
// finding is the failure (a verify that found damage): the job fails at
// once, since running it again finds the same, and its failed event and
// status record carry res, so the thread shows what was found (with the
// report attached) instead of a bare error.
func FailedWithResult(res *Result, err error) error {
	if err == nil {
		return nil
	}
	return resultError{res: res, err: Permanent(err)}
}

type resultError struct {
	res *Result
	err error
}

func (e resultError) Error() string { return e.err.Error() }
func (e resultError) Unwrap() error { return e.err }

// resultOf is the result a FailedWithResult error carries, or nil.
func resultOf(err error) *Result {
	var re resultError
	if errors.As(err, &re) {
		return re.res
	}
	return nil
}
