package jobs

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/backupbot/backupbot/commands"
	"github.com/backupbot/backupbot/internal/humanize"
	"github.com/backupbot/backupbot/internal/quote"
	"github.com/backupbot/backupbot/storage/engine"
	"github.com/backupbot/backupbot/storage/pack"
	srepo "github.com/backupbot/backupbot/storage/repo"
)

// analyze reports on one backup (--name): its size, what it added, how
// well it deduplicated against the repository, and with --performance its
// throughput. Without --name it reports on the whole repository
// (analyzeRepository); with --report compliance it writes that report.
func (w *Worker) analyze(ctx context.Context, j *Job, c *commands.Analyze) (*Result, error) {
	r, err := w.storageRepo(ctx, j, c.Storage, openOptions{})
	if err != nil {
		return nil, err
	}
	defer r.Close()
	switch {
	case c.Report == commands.ReportCompliance:
		return w.complianceReport(ctx, j, r)
	case c.Name == "":
		return w.analyzeRepository(ctx, j, r)
	}
	return analyzeBackup(ctx, r, c)
}

// analyzeBackup is analyze --name: the backup's size, what it added, its
// dedup ratio and, with --performance, its throughput.
func analyzeBackup(ctx context.Context, r *repo, c *commands.Analyze) (*Result, error) {
	ref := c.Name
	s, err := r.Find(ctx, ref)
	if err != nil {
		return nil, fmt.Errorf("find backup %q in storage %s: %w", ref, r.storage.Name, classify(err))
	}
	all, err := r.Snapshots(ctx, engine.SnapshotFilter{Target: s.Target})
	if err != nil {
		return nil, fmt.Errorf("list backups in storage %s: %w", r.storage.Name, classify(err))
	}
	dedup := 0.0
	if s.Added > 0 {
		dedup = float64(s.Size) / float64(s.Added)
	}
	res := &Result{Data: rawJSON(s)}
	res.Summary = fmt.Sprintf("Backup %s: %s in %s; it added %s to the repository", s.Name, humanize.Bytes(s.Size), plural(s.Files, "file"), humanize.Bytes(s.Added))
	res.Fields = []Field{
		{"Snapshot", fmt.Sprintf("%s (%s)", s.Name, short(s.ID))}, {"Type", s.Type}, {"Target", s.Target},
		{"Time", s.Time.Local().Format("2006-01-02 15:04:05")}, {"Host", s.Host},
		{"Files", humanCount(s.Files)}, {"Dirs", humanCount(s.Dirs)},
		{"Size", humanize.Bytes(s.Size)}, {"Added", humanize.Bytes(s.Added)}, {"Dedup (size/added)", ratio(dedup)},
		{"Backups of this target", humanCount(int64(len(all)))},
	}
	if s.Parent != "" {
		res.Fields = append(res.Fields, Field{"Parent", short(s.Parent)})
	}
	if !s.ExpiresAt.IsZero() {
		res.Fields = append(res.Fields, Field{"Expires", s.ExpiresAt.Local().Format("2006-01-02 15:04")})
	}
	if c.Performance {
		res.Fields = append(res.Fields, Field{"Duration", humanDuration(s.Duration)})
		if secs := s.Duration.Seconds(); secs > 0 {
			res.Fields = append(res.Fields,
				Field{"Throughput", humanize.Bytes(int64(float64(s.Size)/secs)) + "/s"},
				Field{"Files per second", fmt.Sprintf("%.0f", float64(s.Files)/secs)},
				Field{"Written per second", humanize.Bytes(int64(float64(s.Added)/secs)) + "/s"})
		}
	}
	return res, nil
}

// analyzeTop is how many of the largest files and directories the
// repository analysis lists.
const analyzeTop = 10

// TargetGrowth is one target's backups in a repository analysis.
type TargetGrowth struct {
	Target    string    `json:"target"`
	Snapshots int       `json:"snapshots"`
	First     time.Time `json:"first"`
	Last      time.Time `json:"last"`
	FirstSize int64     `json:"first_size"`
	LastSize  int64     `json:"last_size"`
	// Added is what its backups added to the repository (after dedup
	// and compression).
	Added int64 `json:"added"`
}

// SizedPath is a file or directory of a target's latest backup.
type SizedPath struct {
	Target string `json:"target"`
	Path   string `json:"path"`
	Size   int64  `json:"size"`
}

// RepositoryAnalysis is `analyze` without --name.
type RepositoryAnalysis struct {
	Storage   string         `json:"storage"`
	Snapshots int            `json:"snapshots"`
	Targets   []TargetGrowth `json:"targets"`
	// Logical is the summed size of every snapshot's files; Unique the
	// plaintext of the distinct chunks they need; Stored the chunks'
	// size after compression and encryption; Packs the pack files'.
	Logical, Unique, Stored, Packs int64
	Dedup, Compression             float64
	// Newest names the newest backup.
	Newest       string      `json:"newest,omitempty"`
	LargestFiles []SizedPath `json:"largest_files"`
	LargestDirs  []SizedPath `json:"largest_dirs"`
}

// analyzeRepository reports on every backup in the repository: how many,
// each target's growth, the dedup and compression ratios, and the
// largest files and directories of each target's latest backup.
func (w *Worker) analyzeRepository(ctx context.Context, j *Job, r *repo) (*Result, error) {
	j.Progress(engine.Progress{Phase: "analyze"})
	rp := r.Repository()
	snaps, _, err := rp.LoadSnapshots(ctx)
	if err != nil {
		return nil, fmt.Errorf("list backups in storage %s: %w", r.storage.Name, classify(err))
	}
	a := RepositoryAnalysis{Storage: r.storage.Name, Snapshots: len(snaps)}
	slices.SortFunc(snaps, func(x, y *srepo.Snapshot) int { return x.Time.Compare(y.Time) })
	growth := map[string]*TargetGrowth{}
	latest := map[string]*srepo.Snapshot{}
	for _, s := range snaps {
		a.Logical += s.Size
		g := growth[s.Target]
		if g == nil {
			g = &TargetGrowth{Target: s.Target, First: s.Time, FirstSize: s.Size}
			growth[s.Target] = g
		}
		g.Snapshots++
		g.Last, g.LastSize = s.Time, s.Size
		g.Added += s.Added
		latest[s.Target] = s
		a.Newest = s.Name
	}
	for _, g := range growth {
		a.Targets = append(a.Targets, *g)
	}
	slices.SortFunc(a.Targets, func(x, y TargetGrowth) int { return strings.Compare(x.Target, y.Target) })

	if err := a.readIndex(ctx, rp); err != nil {
		return nil, fmt.Errorf("read the index of storage %s: %w", r.storage.Name, classify(err))
	}
	var files, dirs []SizedPath
	for _, t := range a.Targets {
		s := latest[t.Target]
		if _, err := largest(ctx, rp, s.Tree, t.Target, "", &files, &dirs); err != nil {
			return nil, fmt.Errorf("read backup %s in storage %s: %w", s.Name, r.storage.Name, classify(err))
		}
	}
	a.LargestFiles, a.LargestDirs = files, dirs
	return a.result(), nil
}

// readIndex sums the distinct data chunks the index lists and the packs stored.
func (a *RepositoryAnalysis) readIndex(ctx context.Context, rp *srepo.Repository) error {
	ids, err := rp.IndexFiles(ctx)
	if err != nil {
		return err
	}
	seen := map[srepo.ID]bool{}
	for _, id := range ids {
		entries, err := rp.LoadIndexFile(ctx, id)
		if err != nil {
			return err
		}
		for _, p := range entries {
			for _, b := range p.Blobs {
				if b.Type != pack.DataBlob || seen[b.ID] {
					continue
				}
				seen[b.ID] = true
				a.Unique += int64(b.RawLength)
				a.Stored += int64(b.Length)
			}
		}
	}
	packs, err := rp.StoredPacks(ctx)
	if err != nil {
		return err
	}
	for _, n := range packs {
		a.Packs += n
	}
	if a.Unique > 0 {
		a.Dedup = float64(a.Logical) / float64(a.Unique)
	}
	if a.Stored > 0 {
		a.Compression = float64(a.Unique) / float64(a.Stored)
	}
	return nil
}

// largest walks a backup's tree, adding its files and directories (with
// their total size) to files and dirs, each kept to the analyzeTop
// largest, and returns the tree's total size.
func largest(ctx context.Context, rp *srepo.Repository, tree srepo.ID, target, dir string, files, dirs *[]SizedPath) (int64, error) {
	t, err := rp.LoadTree(ctx, tree)
	if err != nil {
		return 0, err
	}
	var total int64
	for i := range t.Nodes {
		n := &t.Nodes[i]
		p := dir + "/" + n.FileName()
		switch {
		case n.Type == srepo.NodeFile:
			total += n.Size
			*files = keepTop(*files, SizedPath{Target: target, Path: p, Size: n.Size})
		case n.Subtree != nil:
			size, err := largest(ctx, rp, *n.Subtree, target, p, files, dirs)
			if err != nil {
				return 0, err
			}
			total += size
			*dirs = keepTop(*dirs, SizedPath{Target: target, Path: p, Size: size})
		}
	}
	return total, nil
}

// keepTop adds p to the list of the analyzeTop largest, largest first.
func keepTop(list []SizedPath, p SizedPath) []SizedPath {
	i := slices.IndexFunc(list, func(q SizedPath) bool { return q.Size < p.Size })
	if i < 0 {
		i = len(list)
	}
	if i >= analyzeTop {
		return list
	}
	list = slices.Insert(list, i, p)
	if len(list) > analyzeTop {
		list = list[:analyzeTop]
	}
	return list
}

// result renders the analysis: a summary, the figures, and the growth
// and largest paths as an attached table.
func (a RepositoryAnalysis) result() *Result {
	res := &Result{Data: rawJSON(a)}
	res.Summary = fmt.Sprintf("Repository %s: %s of %s, %s of files stored in %s", a.Storage,
		counted(a.Snapshots, "backup"), counted(len(a.Targets), "target"), humanize.Bytes(a.Logical), humanize.Bytes(a.Packs))
	if a.Newest != "" {
		res.Summary += "; newest " + a.Newest
	}
	res.Fields = []Field{
		{"Backups", humanCount(int64(a.Snapshots))},
		{"Files backed up (all backups)", humanize.Bytes(a.Logical)},
		{"Distinct data", humanize.Bytes(a.Unique)},
		{"Stored (compressed, encrypted)", humanize.Bytes(a.Stored)},
		{"Dedup (files/distinct)", ratio(a.Dedup)},
		{"Compression (distinct/stored)", ratio(a.Compression)},
	}
	var growth []string
	rows := [][]string{}
	for _, g := range a.Targets {
		growth = append(growth, fmt.Sprintf("%s: %s, %s → %s (%s to %s), added %s", g.Target, plural(g.Snapshots, "backup"),
			humanize.Bytes(g.FirstSize), humanize.Bytes(g.LastSize), g.First.UTC().Format("2006-01-02"), g.Last.UTC().Format("2006-01-02"), humanize.Bytes(g.Added)))
		rows = append(rows, []string{g.Target, humanCount(int64(g.Snapshots)), g.First.UTC().Format("2006-01-02 15:04"),
			g.Last.UTC().Format("2006-01-02 15:04"), humanize.Bytes(g.FirstSize), humanize.Bytes(g.LastSize), humanize.Bytes(g.Added)})
	}
	if len(growth) > 0 {
		res.Fields = append(res.Fields, Field{"Growth per target", strings.Join(growth, "\n")})
	}
	paths := func(ps []SizedPath) string {
		var out []string
		for i, p := range ps {
			if i == 5 {
				break
			}
			out = append(out, fmt.Sprintf("%s %s:%s", humanize.Bytes(p.Size), p.Target, quote.Name(p.Path)))
		}
		return strings.Join(out, "\n")
	}
	if len(a.LargestFiles) > 0 {
		res.Fields = append(res.Fields, Field{"Largest files", paths(a.LargestFiles)}, Field{"Largest directories", paths(a.LargestDirs)})
	}
	var b strings.Builder
	b.WriteString(table([]string{"Target", "Backups", "First", "Last", "First size", "Last size", "Added"}, rows))
	for _, part := range []struct {
		title string
		list  []SizedPath
	}{{"Largest files", a.LargestFiles}, {"Largest directories", a.LargestDirs}} {
		b.WriteString("\n" + part.title + " (latest backup of each target):\n")
		var pr [][]string
		for _, p := range part.list {
			pr = append(pr, []string{humanize.Bytes(p.Size), p.Target, quote.Name(p.Path)})
		}
		b.WriteString(table([]string{"Size", "Target", "Path"}, pr))
	}
	res.Report = &Report{Name: "analyze-" + a.Storage + ".txt", Data: []byte(b.String())}
	return res
}

// counted renders "1 backup", "3 backups".
func counted(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return humanCount(int64(n)) + " " + what + "s"
}

func init() {
	register(commands.ActionAnalyze, actionSpec{Timeout: time.Hour, MaxRetry: 1, Queue: QueueDefault,
		Why: "read-only"}, (*Worker).analyze)
}
