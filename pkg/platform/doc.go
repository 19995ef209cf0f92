// Package platform checks platform specifiers ("os[/arch[/variant]]") the
// way containerd's platforms.Parse, which dockerd uses, rejects them: an
// operating system or architecture it does not know is an invalid
// argument with its text. Choosing among an image's platforms is the
// image manager's business, not this package's.
package platform
