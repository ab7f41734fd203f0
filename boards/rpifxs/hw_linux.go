//go:build linux

package rpifxs

import (
	"errors"
	"fmt"

	"periph.io/x/conn/v3/driver/driverreg"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	_ "periph.io/x/host/v3/gpioioctl" // GPIO lines through /dev/gpiochip*

	"github.com/tipring/tipring/boards"
)

// openHardware opens what the descriptor names: GPIO lines by their names
// (the Pi's kernel calls them "GPIO17"...) through periph's gpioioctl
// driver, the SLIC's spidev device and the ALSA device. Only gpioioctl is
// linked, not periph's whole host tree.
func openHardware(d boards.Descriptor) (Hardware, error) {
	if _, err := driverreg.Init(); err != nil {
		return Hardware{}, fmt.Errorf("GPIO drivers: %w", err)
	}
	var missing []error
	pin := func(key, name string) gpio.PinIO {
		if name == "" {
			return nil
		}
		p := gpioreg.ByName(name)
		if p == nil {
			missing = append(missing, fmt.Errorf("%s: no GPIO line named %q (gpioinfo lists them; is /dev/gpiochip0 there?)", key, name))
		}
		return p
	}
	var hw Hardware
	reset := pin("slic.reset", d.SLIC.Reset)
	irq := pin("slic.interrupt", d.SLIC.Interrupt)
	button := pin("reset_button", d.ResetButton)
	power := pin("leds.power", d.LEDs.Power)
	phones := []gpio.PinIO{pin("leds.phone1", d.LEDs.Phone1), pin("leds.phone2", d.LEDs.Phone2)}
	if len(missing) > 0 {
		return Hardware{}, errors.Join(missing...)
	}
	hw.Reset, hw.Interrupt = reset, irq
	if button != nil {
		hw.Button = button
	}
	if power != nil {
		hw.Power = power
	}
	for _, p := range phones {
		var out OutPin
		if p != nil {
			out = p
		}
		hw.Phones = append(hw.Phones, out)
	}
	port, err := openSPIDev(d.SLIC.SPIBus, d.SLIC.SPIChipSelect, d.SLIC.SPIHz)
	if err != nil {
		return Hardware{}, fmt.Errorf("SLIC: %w", err)
	}
	hw.SPI = port
	pcm, err := openALSA(d.Audio, d.Ports)
	if err != nil {
		_ = port.Close()
		return Hardware{}, err
	}
	hw.PCM = pcm
	hw.Close = func() error { return errors.Join(pcm.Close(), port.Close()) }
	return hw, nil
}
