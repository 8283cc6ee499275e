package config

import (
	"reflect"
	"strings"
	"testing"

	"github.com/backupbot/backupbot/storage"
)

const copiesConfig = `
storages:
  local: {type: local, path: /r}
  nas: {type: network, path: /mnt/nas/backups, offsite: true}
  offsite: {type: s3, bucket: b}
targets:
  data:
    paths: [/srv/data]
    copies: [nas, offsite]
  logs: {paths: [/var/log]}
`

func TestCopiesAndOffsiteLoad(t *testing.T) {
	f, err := Load(writeConfig(t, copiesConfig))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if got := f.CopiesOf("data", "local"); !reflect.DeepEqual(got, []string{"nas", "offsite"}) {
		t.Errorf("CopiesOf(data, local) = %v; want [nas offsite]", got)
	}
	if got := f.CopiesOf("data", "nas"); !reflect.DeepEqual(got, []string{"offsite"}) {
		t.Errorf("CopiesOf(data, nas) = %v; a backup's own storage is no copy of it", got)
	}
	if got := f.CopiesOf("logs", "local"); len(got) != 0 {
		t.Errorf("CopiesOf(logs) = %v; want none", got)
	}
	if !f.Storages["nas"].Offsite || !f.Storages["nas"].IsOffsite() || f.Storages["local"].IsOffsite() || !f.Storages["offsite"].IsOffsite() {
		t.Errorf("offsite: nas %v, local %v, offsite %v; want true, false, true (any cloud storage is off-site)",
			f.Storages["nas"].IsOffsite(), f.Storages["local"].IsOffsite(), f.Storages["offsite"].IsOffsite())
	}
	if m := []string{f.Storages["local"].Media(), f.Storages["nas"].Media(), f.Storages["offsite"].Media()}; !reflect.DeepEqual(m,
		[]string{storage.MediaLocal, storage.MediaNetwork, storage.MediaObject}) {
		t.Errorf("media = %v", m)
	}
}

func TestCopiesErrorsNameTheLine(t *testing.T) {
	cases := []struct {
		name, body string
		want       []string
	}{
		{"unknown storage", strings.Replace(copiesConfig, "copies: [nas, offsite]", "copies: [nas, ofsite]", 1),
			[]string{"line 9", "targets.data.copies[1]", `"ofsite" is not a configured storage`, "local, nas, offsite"}},
		{"named twice", strings.Replace(copiesConfig, "copies: [nas, offsite]", "copies:\n      - nas\n      - nas", 1),
			[]string{"line 11", "targets.data.copies[1]", `"nas" is named twice`}},
		{"offsite not a bool", strings.Replace(copiesConfig, "offsite: true", "offsite: maybe", 1),
			[]string{"line 4", "cannot unmarshal"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { loadRefuses(t, tc.body, tc.want...) })
	}
}

func TestStorageRetentionOverridesTheTargets(t *testing.T) {
	body := strings.Replace(copiesConfig, "offsite: {type: s3, bucket: b}", "offsite:\n    type: s3\n    bucket: b\n    retention: {last: 2}", 1)
	body = strings.Replace(body, "logs: {paths: [/var/log]}", "logs:\n    paths: [/var/log]\n    retention: {last: 30}", 1)
	f, err := Load(writeConfig(t, body))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if _, p := f.RetentionOn("offsite")("logs", ""); p.Last != 2 {
		t.Errorf("on offsite, logs keep the last %d; want the storage's 2", p.Last)
	}
	if _, p := f.RetentionOn("local")("logs", ""); p.Last != 30 {
		t.Errorf("on local, logs keep the last %d; want the target's 30", p.Last)
	}
	bad := strings.Replace(body, "retention: {last: 2}", "retention: {keep_min: -1}", 1)
	if _, err := Load(writeConfig(t, bad)); err == nil || !strings.Contains(err.Error(), "storages.offsite.retention") {
		t.Errorf("a bad storage policy: %v; want an error naming storages.offsite.retention", err)
	}
}
