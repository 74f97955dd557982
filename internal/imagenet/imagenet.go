// Package imagenet holds the names of the 1000 ImageNet-1k classes, in the
// order of torchvision's class indices, so that predict and eval can name
// what a classifier sees without a download.
package imagenet

//go:generate /usr/bin/python3 ../../scripts/gen_imagenet_classes.py classes.go

// NumClasses is the number of ImageNet-1k classes.
const NumClasses = 1000

// Name returns the name of class i ("tench" for 0), or "" when i is not in
// [0, NumClasses).
func Name(i int) string {
	if i < 0 || i >= NumClasses {
		return ""
	}
	return classes[i]
}

// Names returns a copy of all class names in index order.
func Names() []string {
	return append([]string(nil), classes[:]...)
}
