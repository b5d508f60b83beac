package segments

// Watermark is the last change-log entry applied to the profiles (0 before
// the first build), so the change log is not trimmed past it.
func (m *Maintainer) Watermark() uint64 {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.wm
}
