import { render } from "../../js/src/widget";
import type { FakeModel } from "./fake_model";

/** The last pixels put on each canvas (jsdom has no canvas). */
export const painted = new WeakMap<HTMLCanvasElement, Uint8ClampedArray>();

/** A drawImage(source, sx, sy, sw, sh, dx, dy, dw, dh) call, recorded since the canvas was last cleared. */
export interface Drawn {
  source: CanvasImageSource;
  sx: number;
  sy: number;
  sw: number;
  sh: number;
  dx: number;
  dy: number;
  dw: number;
  dh: number;
}

export const drawn = new WeakMap<HTMLCanvasElement, Drawn[]>();

class FakeImageData {
  constructor(
    public data: Uint8ClampedArray,
    public width: number,
    public height: number,
  ) {}
}

/** A 2-D context that records the pixels put on each canvas in `painted`. */
export function installFakeCanvas(): void {
  (globalThis as any).ImageData = FakeImageData;
  HTMLCanvasElement.prototype.getContext = function (this: HTMLCanvasElement) {
    const canvas = this;
    return {
      fillStyle: "",
      fillRect() {},
      imageSmoothingEnabled: true,
      putImageData(img: FakeImageData) {
        painted.set(canvas, img.data);
      },
      clearRect() {
        drawn.set(canvas, []);
      },
      drawImage(source: CanvasImageSource, ...a: number[]) {
        const [sx, sy, sw, sh, dx, dy, dw, dh] = a;
        drawn.set(canvas, [...(drawn.get(canvas) ?? []), { source, sx, sy, sw, sh, dx, dy, dw, dh }]);
      },
    };
  } as any;
}

/** Renders the widget for `model` into a fresh element on a fake canvas; returns it and its cleanup. */
export function mountWidget(model: FakeModel): { el: HTMLElement; unmount: () => void } {
  installFakeCanvas();
  const el = document.createElement("div");
  document.body.append(el);
  const cleanup = render({ model, el });
  return {
    el,
    unmount: () => {
      cleanup();
      el.remove();
    },
  };
}
