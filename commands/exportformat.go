package commands

import "fmt"

// exportFormatValue is --format for export: one of the formats, refused at
// parse time (so in the router, before anything is queued) when it needs
// a program this machine lacks (Parser.Missing).
type exportFormatValue struct {
	enumValue[ExportFormat]
	missing map[ExportFormat]string
}

func (v exportFormatValue) set(s string) error {
	if err := v.enumValue.set(s); err != nil {
		return err
	}
	if why, ok := v.missing[*v.p]; ok {
		*v.p = ""
		return &Error{Message: fmt.Sprintf("%s is not available here: %s", s, why), Hint: "Use --format tar or zip."}
	}
	return nil
}
