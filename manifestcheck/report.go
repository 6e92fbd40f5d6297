package manifestcheck

// A Report is what [Check] found in one file.
type Report struct {
	Workloads  int // objects of the kinds [Parse] reads
	Skipped    int // objects of other kinds
	Containers int // containers configured for lameduck, all checked
	Findings   []Finding
}

// Problems returns how many findings are problems rather than notes.
func (r Report) Problems() int {
	n := 0
	for _, f := range r.Findings {
		if !f.Note {
			n++
		}
	}
	return n
}

// Check parses data, the contents of file, with [Parse] and checks each
// workload with [CheckWorkload]; file only labels the findings. It returns
// an error, and no report, when data cannot be parsed.
func Check(file string, data []byte) (Report, error) {
	ws, skipped, err := Parse(data)
	if err != nil {
		return Report{}, err
	}
	r := Report{Workloads: len(ws), Skipped: skipped}
	for _, w := range ws {
		fs, n := CheckWorkload(w)
		for i := range fs {
			fs[i].File = file
		}
		r.Findings = append(r.Findings, fs...)
		r.Containers += n
	}
	return r, nil
}
