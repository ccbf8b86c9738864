package render

import "testing"

func TestScaleSmall(t *testing.T) {
	scaleObjects = 800
	TestRenderFiveThousandObjects(t)
}
