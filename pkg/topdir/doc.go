// Package topdir marks a directory as the top of independent directory
// hierarchies (the ext2/3/4 attribute that `chattr +T` sets), so that the
// filesystem places each of its subdirectories in a block group of its
// own instead of next to their parent.
//
// berth marks the directories that hold one subdirectory per container
// (or layer): the files of a container then share a block group with
// few others. That matters on ext4 without a journal, where making an
// inode scans past every inode of its group deleted in the last minutes:
// with every container in one group, a host that runs and removes
// containers at a high rate spent up to half a millisecond per new file.
// Elsewhere the mark is a harmless placement hint; filesystems without
// it refuse it, which Mark ignores.
package topdir
