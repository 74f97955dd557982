//go:build race

package data

// raceEnabled is set when the race detector instruments the build, which
// makes gunzipping Fashion-MNIST's 26 MB training file take half a minute.
const raceEnabled = true
