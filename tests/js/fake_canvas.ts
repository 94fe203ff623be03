import { render } from "../../js/src/widget";
import type { FakeModel } from "./fake_model";

/** The last pixels put on each canvas (jsdom has no canvas). */
export const painted = new WeakMap<HTMLCanvasElement, Uint8ClampedArray>();

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
      putImageData(img: FakeImageData) {
        painted.set(canvas, img.data);
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
